package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/sensocto/sensocto/ent/token"
	"github.com/sensocto/sensocto/ent/user"
)

const (
	// sweepBatch bounds the guests deleted per statement.
	sweepBatch = 500
	// tokenRetention is how long expired or revoked tokens are kept before deletion
	// (for audit and to answer "revoked" rather than "unknown" meanwhile).
	tokenRetention = 7 * 24 * time.Hour
)

// SweepGuests deletes guests whose expiry has passed, with what only they own (tokens,
// sensors, rooms they own, memberships, simulator runs: the database cascades), and
// expired or revoked tokens older than a week. It returns the number of guests deleted.
func (s *Service) SweepGuests(ctx context.Context) (int, error) {
	now := s.now()
	total := 0
	for {
		ids, err := s.db.User.Query().
			Where(user.IsGuest(true), user.GuestExpiresAtLT(now)).
			Limit(sweepBatch).IDs(ctx)
		if err != nil {
			return total, fmt.Errorf("find expired guests: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		// Re-check the expiry in the delete: a guest may have been active meanwhile.
		n, err := s.db.User.Delete().
			Where(user.IDIn(ids...), user.IsGuest(true), user.GuestExpiresAtLT(now)).
			Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("delete expired guests: %w", err)
		}
		s.cache.forgetUsers(ids...)
		s.opts.Revocations.UsersDeleted(ids...)
		if s.opts.OnUsersDeleted != nil {
			s.opts.OnUsersDeleted(ids)
		}
		total += n
		if len(ids) < sweepBatch {
			break
		}
	}
	old := now.Add(-tokenRetention)
	if _, err := s.db.Token.Delete().
		Where(token.Or(token.ExpiresAtLT(old), token.RevokedAtLT(old))).
		Exec(ctx); err != nil {
		return total, fmt.Errorf("delete old tokens: %w", err)
	}
	return total, nil
}

// RunSweeper calls SweepGuests every interval until ctx ends. The caller owns the
// goroutine that runs it.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.SweepGuests(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn().Err(err).Msg("sweep guests")
		case n > 0:
			s.log.Info().Int("guests", n).Msg("deleted expired guests")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
