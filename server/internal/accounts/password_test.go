package accounts

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := hashPassword(TestPasswordParams, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the given parameters", h)
	}
	h2, _ := hashPassword(TestPasswordParams, "correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		name, hash, password string
		want                 bool
		wantErr              bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse battery!", false, false},
		{"empty", h, "", false, false},
		{"default params", mustHash(t, DefaultPasswordParams, "pw-0123456789"), "pw-0123456789", true, false},
		{"not argon2id", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "x", false, true},
		{"garbage", "plaintext", "plaintext", false, true},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5", "x", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ok, err := verifyPassword(c.hash, c.password)
			if ok != c.want || (err != nil) != c.wantErr {
				t.Errorf("verifyPassword = %v, %v; want %v, error %v", ok, err, c.want, c.wantErr)
			}
		})
	}
}

func mustHash(t *testing.T, p PasswordParams, pw string) string {
	t.Helper()
	h, err := hashPassword(p, pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, h, err := newSecret(prefixSession)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 32 || !wellFormed(s, prefixSession) || wellFormed(s, prefixAPI) || len(s) != secretLen {
		t.Errorf("secret %q (hash %d bytes) malformed", s, len(h))
	}
	if wellFormed(s[:len(s)-1], prefixSession) {
		t.Error("a truncated secret is accepted")
	}
}
