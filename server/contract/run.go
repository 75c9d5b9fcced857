package contract

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// runAll runs every check, then the coverage check, then cleans up.
func (s *suite) runAll(ctx context.Context) {
	defer s.runCleanups()
	served := s.served(ctx)
	s.checkHealth(ctx)

	var authCfg *sensoctov1.GetAuthConfigResponse
	s.check(ctx, protocols[0], []string{"/sensocto.v1.AuthService/GetAuthConfig"}, "the sign-in methods without a credential",
		func(ctx context.Context) error {
			var err error
			authCfg, err = s.client(protocols[0], "").auth.GetAuthConfig(ctx, &sensoctov1.GetAuthConfigRequest{})
			return err
		})
	if authCfg == nil {
		authCfg = &sensoctov1.GetAuthConfigResponse{}
	}
	a, aerr := s.mainUser(ctx, authCfg)
	b, berr := s.newUser(ctx, authCfg, "contract B")
	if aerr != nil || berr != nil {
		s.fail(noProtocol, nil, "the suite's users to sign in (guest sign-in, or --token)", errors.Join(aerr, berr))
		s.checkCoverage(served)
		return
	}

	for _, p := range protocols {
		s.authChecks(ctx, p, authCfg, a)
		s.sensorChecks(ctx, p, a, b)
		s.attentionChecks(ctx, p, a)
		s.simulatorChecks(ctx, p, a)
		s.systemChecks(ctx, p, a)
		s.errorChecks(ctx, p, a, b)
		s.roomChecks(ctx, p, a, b)
	}
	s.streamingChecks(ctx, authCfg, a)
	s.paginationChecks(ctx, a)
	s.idempotencyChecks(ctx, a)
	if !s.cfg.SkipRateLimit {
		s.rateLimitChecks(ctx)
	}
	s.checkCoverage(served)
}

// mainUser is the account most checks act as: the --token account, or a new guest.
func (s *suite) mainUser(ctx context.Context, cfg *sensoctov1.GetAuthConfigResponse) (user, error) {
	if s.cfg.Token == "" {
		return s.newUser(ctx, cfg, "contract A")
	}
	me, err := s.client(protocols[0], s.cfg.Token).auth.GetMe(ctx, &sensoctov1.GetMeRequest{})
	if err != nil {
		return user{}, fmt.Errorf("the --token is refused by GetMe (it must be a full-scope token): %w", err)
	}
	return user{id: me.GetUser().GetUserId(), token: s.cfg.Token}, nil
}

// newUser signs in a new guest (the suite's throw-away accounts) and signs it out at the
// end.
func (s *suite) newUser(ctx context.Context, cfg *sensoctov1.GetAuthConfigResponse, name string) (user, error) {
	if !cfg.GetGuestEnabled() {
		return user{}, errors.New("guest sign-in is disabled on this server; the suite needs it for its throw-away users")
	}
	res, err := s.client(protocols[0], "").auth.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{DisplayName: name + " " + s.run})
	if err != nil {
		return user{}, fmt.Errorf("guest sign-in: %w", err)
	}
	u := user{id: res.GetUser().GetUserId(), token: res.GetToken(), own: true}
	s.cleanup(func(ctx context.Context) {
		_, _ = s.client(protocols[0], u.token).auth.SignOut(ctx, &sensoctov1.SignOutRequest{})
	})
	return u, nil
}

// registerOwned registers a sensor as u and deletes it at the end.
func (s *suite) registerOwned(ctx context.Context, u user, req *sensoctov1.RegisterSensorRequest) (*sensoctov1.RegisterSensorResponse, error) {
	res, err := s.client(protocols[0], u.token).sensors.RegisterSensor(ctx, req)
	if err != nil {
		return nil, err
	}
	id := res.GetSensor().GetSensorId()
	s.deleteAtEnd(u, id)
	return res, nil
}

// deleteAtEnd deletes sensor id as u at the end (a sensor already deleted is fine).
func (s *suite) deleteAtEnd(u user, id string) {
	s.cleanup(func(ctx context.Context) {
		_, err := s.client(protocols[0], u.token).sensors.DeleteSensor(ctx, &sensoctov1.DeleteSensorRequest{SensorId: id})
		if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
			fmt.Fprintf(s.cfg.Out, "warning: could not delete sensor %s: %v\n", id, err)
		}
	})
}

// sensorID is a sensor id unique to this run.
func (s *suite) sensorID(parts ...string) string {
	id := "contract-" + s.run
	for _, p := range parts {
		id += "-" + p
	}
	return id
}
