// Secrets: the ids, key secrets and argon2id hashes the core makes and
// checks.

package core

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters of Pangolin's key hashes (node-argon2 defaults).
const (
	argonMemoryKiB = 19456
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// RandomID returns n characters of [a-z0-9] from a CSPRNG, without modulo
// bias.
func RandomID(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			// 252 = 7*36: reject the tail to keep the distribution uniform.
			if b < 252 && len(out) < n {
				out = append(out, idAlphabet[b%36])
			}
		}
	}
	return string(out)
}

// NewKeySecret returns a key secret: 25 random bytes, lowercase unpadded
// base32, 40 characters.
func NewKeySecret() string {
	b := make([]byte, 25)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashSecret returns the argon2id PHC string of secret.
func HashSecret(secret string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// CheckSecret reports whether secret matches the PHC string, in constant
// time. It honours the parameters stored in the hash, so keys hashed by
// Pangolin itself verify too.
func CheckSecret(phc, secret string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil {
		return false
	}
	// Refuse absurd parameters from a tampered row rather than allocate them.
	if memory == 0 || memory > 1<<20 || iterations == 0 || iterations > 16 || threads == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, iterations, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
