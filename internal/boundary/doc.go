// Package boundary holds the test that keeps the gateway and the core
// apart: they meet only in the contract (proto/) and in cmd/, which wires
// both into the embedded binary.
package boundary
