package accounts_test

import (
	"testing"
	"time"

	"github.com/sensocto/sensocto/ent/user"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

func TestSystemUserIsNeverSwept(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			ctx := t.Context()
			for range 2 { // idempotent
				v, err := f.svc.EnsureSystemUser(ctx)
				if err != nil || v.UserID != accounts.SystemUserID || v.IsGuest {
					t.Fatalf("EnsureSystemUser = %+v, %v", v, err)
				}
			}
			u := f.db.User.GetX(ctx, accounts.SystemUserID)
			if u.IsGuest || u.Email != nil || u.PasswordHash != nil || u.DisplayName != accounts.SystemUserName {
				t.Fatalf("system user %+v: want a named non-guest without email or password", u)
			}
			f.clock.Advance(365 * 24 * time.Hour)
			if _, err := f.svc.SweepGuests(ctx); err != nil {
				t.Fatal(err)
			}
			if !f.db.User.Query().Where(user.ID(accounts.SystemUserID)).ExistX(ctx) {
				t.Error("the sweeper deleted the system user")
			}
		})
	}
}
