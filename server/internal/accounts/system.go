package accounts

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// SystemUserID is the fixed id of the built-in system user that owns what the server
// runs by itself (the demo simulator run). It is derived from a constant name, so every
// node and every restart agree on it.
var SystemUserID = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://sensocto.dev/users/system"))

// SystemUserName is the system user's display name.
const SystemUserName = "Sensocto demo"

// EnsureSystemUser creates the system user when it does not exist and returns it as a
// full-scope Viewer. The user has no email, password or OpenID identity, so nobody can
// sign in as it, and it is not a guest, so the guest sweeper never deletes it.
func (s *Service) EnsureSystemUser(ctx context.Context) (authz.Viewer, error) {
	v := authz.Viewer{UserID: SystemUserID, Scope: authz.ScopeFull, DisplayName: SystemUserName}
	_, err := s.db.User.Get(ctx, SystemUserID)
	if err == nil {
		return v, nil
	}
	if !ent.IsNotFound(err) {
		return authz.Viewer{}, fmt.Errorf("load system user: %w", err)
	}
	err = s.db.User.Create().SetID(SystemUserID).SetDisplayName(SystemUserName).SetIsGuest(false).
		OnConflictColumns("id").Ignore().Exec(ctx) // another node may create it at the same time
	if err != nil {
		return authz.Viewer{}, fmt.Errorf("create system user: %w", err)
	}
	return v, nil
}
