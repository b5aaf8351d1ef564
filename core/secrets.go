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

	// maxArgonMemoryKiB bounds the memory parameter a stored hash may ask.
	maxArgonMemoryKiB = 64 << 10
)

const (
	idAlphabet    = "abcdefghijklmnopqrstuvwxyz0123456789"
	mixedAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// RandomID returns n characters of [a-z0-9] from a CSPRNG, without modulo
// bias.
func RandomID(n int) string { return randomString(idAlphabet, n) }

// randomString returns n characters of alphabet (at most 256 of them) from
// a CSPRNG, without modulo bias.
func randomString(alphabet string, n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	// Reject the bytes at or past the largest multiple of the alphabet's
	// size, to keep the distribution uniform.
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
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

// hashSecret returns the argon2id PHC string of secret. It is unbounded:
// the core calls it only through a Hasher, which bounds how many run.
func hashSecret(secret string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// checkSecret reports whether secret matches the PHC string, in constant
// time. It honours the parameters stored in the hash, so keys hashed by
// Pangolin itself verify too. Like hashSecret, it runs only through a
// Hasher.
func checkSecret(phc, secret string) bool {
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
	// Refuse absurd parameters from a tampered row rather than allocate
	// them: the Hasher's memory bound counts on each hash holding about
	// argonMemoryKiB, so accept at most maxArgonMemoryKiB (OWASP's largest
	// argon2id profile, 46 MiB, fits).
	if memory == 0 || memory > maxArgonMemoryKiB || iterations == 0 || iterations > 16 || threads == 0 {
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
