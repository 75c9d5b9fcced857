package accounts

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
)

var (
	adjectives = []string{
		"Amber", "Brave", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager", "Gentle",
		"Golden", "Happy", "Jolly", "Keen", "Kind", "Lively", "Lucky", "Mellow", "Merry",
		"Nimble", "Quiet", "Quick", "Rapid", "Silver", "Steady", "Sunny", "Swift", "Tidy",
		"Vivid", "Wise", "Witty", "Zesty", "Bright",
	}
	animals = []string{
		"Otter", "Falcon", "Panda", "Lynx", "Heron", "Koala", "Badger", "Dolphin", "Fox",
		"Gecko", "Ibis", "Jaguar", "Lemur", "Marten", "Narwhal", "Octopus", "Puffin", "Quokka",
		"Raven", "Salmon", "Tapir", "Urchin", "Walrus", "Yak", "Zebra", "Beaver", "Crane",
		"Eagle", "Hare", "Moose", "Newt", "Owl",
	}
)

func pick(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

// guestName returns a friendly generated name such as "Calm Otter 42".
func guestName() string {
	return fmt.Sprintf("%s %s %d", adjectives[pick(len(adjectives))], animals[pick(len(animals))], 10+pick(90))
}

// nameFromEmail derives a display name from an address's local part.
func nameFromEmail(email string) string {
	local, _, _ := strings.Cut(email, "@")
	local = strings.TrimSpace(local)
	if local == "" {
		return "User"
	}
	if r := []rune(local); len(r) > 64 {
		local = string(r[:64])
	}
	return local
}

// normalizeEmail is the stored form of an address: trimmed and lower-case.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
