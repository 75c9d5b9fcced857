package accounts

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/server/internal/authz"
)

// cacheKey is the SHA-256 of a secret.
type cacheKey [32]byte

// cachedToken is a resolved token as loaded from the database. It is immutable once
// stored, except for the touching flag; a touch stores a new entry.
type cachedToken struct {
	viewer   authz.Viewer
	loadedAt time.Time
	// expiresAt is the token's expiry (zero: never).
	expiresAt time.Time
	// guestExpiresAt is the guest account's expiry (zero for registered users).
	guestExpiresAt time.Time
	lastUsedAt     time.Time
	// touching is set while one request writes the renewal, so others skip it.
	touching atomic.Bool
	// retryAt (Unix nanoseconds) is set while the entry is served stale because the
	// database could not be reached: until then nobody asks the database again.
	retryAt atomic.Int64
}

// tokenCache maps secret hashes to resolved tokens, bounded in size, with indexes by
// token and user for invalidation. A generation counter keeps a load that raced with an
// invalidation from storing a stale entry.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	gen     uint64
	entries map[cacheKey]*cachedToken
	byToken map[uuid.UUID]cacheKey
	byUser  map[uuid.UUID]map[cacheKey]struct{}
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{
		max:     size,
		entries: make(map[cacheKey]*cachedToken),
		byToken: make(map[uuid.UUID]cacheKey),
		byUser:  make(map[uuid.UUID]map[cacheKey]struct{}),
	}
}

// get returns the entry for k and the current generation (for a later put).
func (c *tokenCache) get(k cacheKey) (*cachedToken, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[k], c.gen
}

// put stores e under k unless an invalidation happened since generation gen.
func (c *tokenCache) put(k cacheKey, e *cachedToken, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, exists := c.entries[k]; !exists && len(c.entries) >= c.max {
		// Evict an arbitrary entry (map order is random): it is only reloaded.
		for victim := range c.entries {
			c.removeLocked(victim)
			break
		}
	}
	c.entries[k] = e
	c.byToken[e.viewer.TokenID] = k
	keys := c.byUser[e.viewer.UserID]
	if keys == nil {
		keys = make(map[cacheKey]struct{})
		c.byUser[e.viewer.UserID] = keys
	}
	keys[k] = struct{}{}
}

// replace swaps old for e under k if old is still the stored entry (a touch).
func (c *tokenCache) replace(k cacheKey, old, e *cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] == old {
		c.entries[k] = e
	}
}

func (c *tokenCache) removeLocked(k cacheKey) {
	e, ok := c.entries[k]
	if !ok {
		return
	}
	delete(c.entries, k)
	delete(c.byToken, e.viewer.TokenID)
	if keys := c.byUser[e.viewer.UserID]; keys != nil {
		delete(keys, k)
		if len(keys) == 0 {
			delete(c.byUser, e.viewer.UserID)
		}
	}
}

// forgetToken drops a token (revoked).
func (c *tokenCache) forgetToken(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if k, ok := c.byToken[id]; ok {
		c.removeLocked(k)
	}
}

// forgetUsers drops every token of the users (deleted, upgraded, renamed).
func (c *tokenCache) forgetUsers(ids ...uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		for k := range c.byUser[id] {
			c.removeLocked(k)
		}
	}
}

// ForgetCredentials drops cached credentials that another node ended or changed (the
// app passes it to authz.Revocations.ForgetRemote): the next use of such a token asks
// the database again.
func (s *Service) ForgetCredentials(tokens, users []uuid.UUID) {
	for _, id := range tokens {
		s.cache.forgetToken(id)
	}
	if len(users) > 0 {
		s.cache.forgetUsers(users...)
	}
}
