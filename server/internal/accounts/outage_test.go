package accounts_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// downDriver fails every statement as an unreachable database does while down is set.
type downDriver struct {
	dialect.Driver
	down *atomic.Bool
}

func (d downDriver) err() error {
	if d.down.Load() {
		return fmt.Errorf("failed to connect to `user=sensocto`: 10.0.0.7:5432: %w", driver.ErrBadConn)
	}
	return nil
}

func (d downDriver) Exec(ctx context.Context, q string, args, v any) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Driver.Exec(ctx, q, args, v)
}

func (d downDriver) Query(ctx context.Context, q string, args, v any) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Driver.Query(ctx, q, args, v)
}

func (d downDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Driver.Tx(ctx)
}

// TestCredentialsSurviveADatabaseOutage: while the database cannot be reached, a
// credential resolved before stays valid past the cache's lifetime up to MaxStale; one
// never resolved, or revoked before, gets unavailable (never internal, never
// accepted); when the database is back everything resolves normally again.
func TestCredentialsSurviveADatabaseOutage(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	db := dbtest.Open(t, "sqlite")
	client := ent.NewClient(ent.Driver(downDriver{Driver: entsql.OpenDB(dialect.SQLite, db.SQL), down: &down}))
	const maxStale = 10 * time.Minute
	f := newFixture(t, "sqlite", func(o *accounts.Options) { o.Ent = client; o.MaxStale = maxStale })

	used, err := f.svc.SignInGuest(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	unused, err := f.svc.SignInGuest(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := f.svc.SignInGuest(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Resolve(t.Context(), used.Secret); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SignOut(f.as(t, revoked.Secret)); err != nil {
		t.Fatal(err)
	}

	down.Store(true)
	f.clock.Advance(accounts.DefaultCacheTTL + time.Second)
	res, err := f.svc.Resolve(t.Context(), used.Secret)
	if err != nil || res.Viewer.UserID != used.User.ID {
		t.Fatalf("a resolved credential during the outage: %v %+v", err, res.Viewer)
	}
	_, err = f.svc.Resolve(t.Context(), unused.Secret)
	wantKind(t, "a credential never resolved, during the outage", err, apperr.KindUnavailable)
	_, err = f.svc.Resolve(t.Context(), revoked.Secret)
	wantKind(t, "a credential revoked before the outage", err, apperr.KindUnavailable)

	// Still valid near the bound, refused past it.
	f.clock.Advance(maxStale - 2*time.Second)
	if _, err := f.svc.Resolve(t.Context(), used.Secret); err != nil {
		t.Fatalf("within MaxStale: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	_, err = f.svc.Resolve(t.Context(), used.Secret)
	wantKind(t, "past MaxStale", err, apperr.KindUnavailable)

	down.Store(false)
	for _, s := range []string{used.Secret, unused.Secret} {
		if _, err := f.svc.Resolve(t.Context(), s); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	}
	_, err = f.svc.Resolve(t.Context(), revoked.Secret)
	wantKind(t, "the revoked credential after the outage", err, apperr.KindUnauthenticated)
}
