package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Secret prefixes make a leaked token recognisable (secret scanners, logs) and tell the
// kinds apart before any lookup.
const (
	prefixSession   = "sst_"
	prefixAPI       = "sat_"
	prefixMagicLink = "sml_"
)

// secretLen is the length of an encoded secret: a prefix and 32 random bytes in
// unpadded base64url.
var secretLen = len(prefixSession) + base64.RawURLEncoding.EncodedLen(32)

// newSecret returns a new random secret with prefix and the SHA-256 of the whole
// secret, the only thing stored.
func newSecret(prefix string) (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("read random: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret), nil
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// wellFormed reports whether secret looks like one of ours with one of prefixes, before
// any hashing or lookup.
func wellFormed(secret string, prefixes ...string) bool {
	if len(secret) != secretLen {
		return false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(secret, p) {
			return true
		}
	}
	return false
}

// displayPrefix is what ListApiTokens shows of a secret to recognise it.
func displayPrefix(secret string) string {
	return secret[:len(prefixAPI)+6]
}
