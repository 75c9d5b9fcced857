package rooms

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/room"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/ratelimit"
)

// CodeAlphabet is the 32 symbols of join codes: no I, O, 0 or 1, which look alike.
const CodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// CodeLength is the length of a join code: 32^8 = 1,099,511,627,776 codes.
const CodeLength = 8

// Join-code expiry bounds (RegenerateJoinCode's expires_in_seconds).
const (
	MinCodeExpiry = time.Hour
	MaxCodeExpiry = 365 * 24 * time.Hour
)

// newCode returns a random join code from crypto/rand: each symbol is one random byte
// modulo 32, which is uniform because 256 is a multiple of 32.
func newCode() (string, error) {
	var b [CodeLength]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random bytes for a join code: %w", err)
	}
	for i := range b {
		b[i] = CodeAlphabet[b[i]%byte(len(CodeAlphabet))]
	}
	return string(b[:]), nil
}

// NormalizeCode upper-cases a join code and checks its form; the error names field.
func NormalizeCode(field, code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if len(c) != CodeLength {
		return "", apperr.InvalidArgument(field, fmt.Sprintf("must be %d characters", CodeLength))
	}
	for i := range len(c) {
		if !strings.ContainsRune(CodeAlphabet, rune(c[i])) {
			return "", apperr.InvalidArgument(field, "may only contain "+CodeAlphabet)
		}
	}
	return c, nil
}

// JoinCodeLimits bound join-code lookups (GetRoomPreview, JoinRoom by code): each
// allows Burst lookups at once, then one per Every.
type JoinCodeLimits struct {
	// PerIP: lookups from one client IP.
	PerIPBurst int
	PerIPEvery time.Duration
	// PerRoom: lookups that found one room (a leaked code hammered).
	PerRoomBurst int
	PerRoomEvery time.Duration
	// Total: lookups from everyone together, which bounds a distributed guesser.
	TotalBurst int
	TotalEvery time.Duration
}

// JoinCodeLimitsPerMinute allows n lookups per minute from one client IP (n at once),
// 3n per minute of one room (3n at once) and 30n per minute in total (5n at once).
func JoinCodeLimitsPerMinute(n int) JoinCodeLimits {
	n = max(n, 1)
	return JoinCodeLimits{
		PerIPBurst: n, PerIPEvery: time.Minute / time.Duration(n),
		PerRoomBurst: 3 * n, PerRoomEvery: time.Minute / time.Duration(3*n),
		TotalBurst: 5 * n, TotalEvery: time.Minute / time.Duration(30*n),
	}
}

// DefaultJoinCodeLimits (n = 10, the default of SENSOCTO_AUTH_RATE_LIMIT): 10 per minute
// per IP, 30 per minute per room, 300 per minute in total. A guess hits one of N live
// codes with probability N / 32^8, so at the total bound (432,000 guesses a day) the
// first hit takes 32^8 / (N × 432,000) days on average: 254 days for N = 10,000 rooms,
// 7 years for N = 1,000; from one IP (14,400 a day) 21 years for N = 10,000.
var DefaultJoinCodeLimits = JoinCodeLimitsPerMinute(10)

type codeLimiters struct {
	ip, room, total *ratelimit.Limiter
}

func newCodeLimiters(l JoinCodeLimits, now func() time.Time) *codeLimiters {
	if l == (JoinCodeLimits{}) {
		l = DefaultJoinCodeLimits
	}
	return &codeLimiters{
		ip:    ratelimit.New(l.PerIPBurst, l.PerIPEvery, 0, now),
		room:  ratelimit.New(l.PerRoomBurst, l.PerRoomEvery, 0, now),
		total: ratelimit.New(l.TotalBurst, l.TotalEvery, 1, now),
	}
}

// byCode finds the room of a join code, after the per-IP and total limits, and applies
// the per-room limit to a found room. An unknown code is NotFound; an expired one is
// FailedPrecondition, saying so.
func (s *Service) byCode(ctx context.Context, field, code string) (*roomState, error) {
	c, err := NormalizeCode(field, code)
	if err != nil {
		return nil, err
	}
	if err := s.limits.ip.Check(authz.ClientIPFrom(ctx).String(), "join code"); err != nil {
		return nil, err
	}
	if err := s.limits.total.Check("", "join code"); err != nil {
		return nil, err
	}
	r := s.idx.byJoinCode(c)
	if r == nil {
		r = s.confirmCode(ctx, c)
	}
	if r == nil {
		return nil, apperr.NotFound("no room has this join code (it may have been replaced by a new one)")
	}
	if err := s.limits.room.Check(r.id.String(), "join code"); err != nil {
		return nil, err
	}
	s.idx.mu.RLock()
	expires, current := r.codeExpires, r.code == c && !r.deleted
	s.idx.mu.RUnlock()
	if !current {
		return nil, apperr.NotFound("no room has this join code (it may have been replaced by a new one)")
	}
	if !expires.IsZero() && !s.now().Before(expires) {
		return nil, apperr.FailedPrecondition("this join code expired at %s; ask for a new one", expires.UTC().Format(time.RFC3339))
	}
	return r, nil
}

// confirmCode looks code up in the database when the index does not know it (cluster
// mode: another node may have made it a moment ago; see confirm.go) and returns its
// room, now in the index, or nil. byCode's limits bound these reads.
func (s *Service) confirmCode(ctx context.Context, code string) *roomState {
	if s.cl.bus == nil {
		return nil
	}
	id, err := s.db.Room.Query().Where(room.JoinCode(code)).OnlyID(ctx)
	if err != nil {
		if !ent.IsNotFound(err) {
			s.log.Warn().Err(err).Msg("confirm a join code unknown to this node")
		}
		return nil
	}
	if !s.confirm(ctx, id, uuid.Nil) {
		return nil
	}
	return s.idx.byJoinCode(code)
}
