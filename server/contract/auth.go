package contract

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// authChecks covers AuthService over p.
func (s *suite) authChecks(ctx context.Context, p protocol, cfg *sensoctov1.GetAuthConfigResponse, a user) {
	anon := s.client(p, "")
	if p.name != protocols[0].name { // over Connect it ran first, to learn the configuration
		s.check(ctx, p, []string{sensoctov1connect.AuthServiceGetAuthConfigProcedure}, "the same sign-in methods as over Connect",
			func(ctx context.Context) error {
				res, err := anon.auth.GetAuthConfig(ctx, &sensoctov1.GetAuthConfigRequest{})
				if err != nil {
					return must("GetAuthConfig", err)
				}
				if res.GetGuestEnabled() != cfg.GetGuestEnabled() || res.GetPasswordEnabled() != cfg.GetPasswordEnabled() {
					return fmt.Errorf("%v, got %v", cfg, res)
				}
				return nil
			})
	}

	// SignInGuest and SignOut are checked over each protocol by signOutEndsStreamsCheck.

	me := s.client(p, a.token)
	s.check(ctx, p, []string{sensoctov1connect.AuthServiceGetMeProcedure}, "the caller's own user", func(ctx context.Context) error {
		res, err := me.auth.GetMe(ctx, &sensoctov1.GetMeRequest{})
		if err != nil {
			return must("GetMe", err)
		}
		if res.GetUser().GetUserId() != a.id {
			return fmt.Errorf("user %s, got %s", a.id, res.GetUser().GetUserId())
		}
		return nil
	})
	if a.own {
		s.check(ctx, p, []string{sensoctov1connect.AuthServiceUpdateMeProcedure}, "the changed display name back", func(ctx context.Context) error {
			name := "contract A " + p.name
			res, err := me.auth.UpdateMe(ctx, &sensoctov1.UpdateMeRequest{DisplayName: &name})
			if err != nil {
				return must("UpdateMe", err)
			}
			if got := res.GetUser().GetDisplayName(); got != name {
				return fmt.Errorf("display name %q, got %q", name, got)
			}
			return nil
		})
	} else { // never change the --token account: an empty name must be refused, naming the field
		s.check(ctx, p, []string{sensoctov1connect.AuthServiceUpdateMeProcedure}, "an empty display name refused naming display_name",
			func(ctx context.Context) error {
				empty := ""
				_, err := me.auth.UpdateMe(ctx, &sensoctov1.UpdateMeRequest{DisplayName: &empty})
				return expectFieldViolation(err, "display_name")
			})
	}

	// Password accounts: one real sign-up per run (over Connect); over the other protocols
	// signing up the same address again must be AlreadyExists.
	email := "contract-" + s.run + "@example.com"
	password := "contract-" + s.run + "-pw"
	s.check(ctx, p, []string{sensoctov1connect.AuthServiceSignUpProcedure, sensoctov1connect.AuthServiceSignInProcedure},
		"sign-up once per address (then AlreadyExists), sign-in with the password, Unauthenticated with a wrong one",
		func(ctx context.Context) error {
			if !cfg.GetPasswordEnabled() {
				_, err := anon.auth.SignUp(ctx, &sensoctov1.SignUpRequest{Email: email, Password: password})
				return expectCode(err, connect.CodeFailedPrecondition)
			}
			res, err := anon.auth.SignUp(ctx, &sensoctov1.SignUpRequest{Email: email, Password: password, DisplayName: "contract"})
			if p.name == protocols[0].name {
				if err != nil {
					return must("SignUp", err)
				}
				if res.GetSession().GetToken() == "" || res.GetUser().GetEmail() != email {
					return fmt.Errorf("a session and user %s, got %v", email, res)
				}
				s.signOutAtEnd(res.GetSession().GetToken())
			} else if e := expectCode(err, connect.CodeAlreadyExists); e != nil {
				return fmt.Errorf("SignUp of an address already signed up: %w", e)
			}
			in, err := anon.auth.SignIn(ctx, &sensoctov1.SignInRequest{Email: email, Password: password})
			if err != nil {
				return must("SignIn", err)
			}
			if in.GetSession().GetToken() == "" || in.GetUser().GetEmail() != email {
				return fmt.Errorf("a session for %s, got %v", email, in)
			}
			s.signOutAtEnd(in.GetSession().GetToken())
			_, err = anon.auth.SignIn(ctx, &sensoctov1.SignInRequest{Email: email, Password: password + "x"})
			if e := expectCode(err, connect.CodeUnauthenticated); e != nil {
				return fmt.Errorf("SignIn with a wrong password: %w", e)
			}
			return nil
		})

	s.check(ctx, p, []string{sensoctov1connect.AuthServiceRequestMagicLinkProcedure, sensoctov1connect.AuthServiceVerifyMagicLinkProcedure},
		"a magic link request accepted, and an unknown link secret Unauthenticated",
		func(ctx context.Context) error {
			_, err := anon.auth.RequestMagicLink(ctx, &sensoctov1.RequestMagicLinkRequest{Email: email, ReturnTo: "/"})
			if cfg.GetMagicLinkEnabled() {
				if err != nil && connect.CodeOf(err) != connect.CodeResourceExhausted { // per-address limit: 3 in a row
					return must("RequestMagicLink", err)
				}
			} else if e := expectCode(err, connect.CodeFailedPrecondition); e != nil {
				return e
			}
			_, err = anon.auth.VerifyMagicLink(ctx, &sensoctov1.VerifyMagicLinkRequest{Secret: "contract-unknown-" + s.run + p.name})
			return expectCode(err, connect.CodeUnauthenticated)
		})

	s.check(ctx, p, []string{sensoctov1connect.AuthServiceBeginOidcSignInProcedure},
		"an authorization URL when OpenID sign-in is configured, FailedPrecondition when not",
		func(ctx context.Context) error {
			res, err := anon.auth.BeginOidcSignIn(ctx, &sensoctov1.BeginOidcSignInRequest{ReturnTo: "/"})
			if cfg.GetOidcProviderName() == "" {
				return expectCode(err, connect.CodeFailedPrecondition)
			}
			if err != nil {
				return must("BeginOidcSignIn", err)
			}
			if !strings.HasPrefix(res.GetAuthorizationUrl(), "http") {
				return fmt.Errorf("an http(s) authorization URL, got %q", res.GetAuthorizationUrl())
			}
			return nil
		})

	s.check(ctx, p, []string{sensoctov1connect.AuthServiceCreateApiTokenProcedure, sensoctov1connect.AuthServiceListApiTokensProcedure, sensoctov1connect.AuthServiceRevokeApiTokenProcedure},
		"a publish-scope token that may publish but not list sensors, listed until revoked, then Unauthenticated",
		func(ctx context.Context) error {
			res, err := me.auth.CreateApiToken(ctx, &sensoctov1.CreateApiTokenRequest{
				Name: "contract " + s.run + " " + p.name, Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH, ExpiresIn: durationpb.New(3600e9),
			})
			if err != nil {
				return must("CreateApiToken", err)
			}
			tokenID := res.GetToken().GetTokenId()
			s.cleanup(func(ctx context.Context) {
				_, _ = s.client(protocols[0], a.token).auth.RevokeApiToken(ctx, &sensoctov1.RevokeApiTokenRequest{TokenId: tokenID})
			})
			if res.GetSecret() == "" || res.GetToken().GetScope() != sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH {
				return fmt.Errorf("a secret and scope PUBLISH, got %v", res.GetToken())
			}
			list, err := me.auth.ListApiTokens(ctx, &sensoctov1.ListApiTokensRequest{})
			if err != nil {
				return must("ListApiTokens", err)
			}
			if !hasToken(list, tokenID) {
				return fmt.Errorf("ListApiTokens to include %s, got %d tokens without it", tokenID, len(list.GetTokens()))
			}
			pub := s.client(p, res.GetSecret())
			id := s.sensorID("tok", p.name)
			if _, err := pub.sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: id, Attributes: []*sensoctov1.Attribute{heartrateAttribute}}); err != nil {
				return must("RegisterSensor with a publish-scope token", err)
			}
			s.deleteAtEnd(a, id)
			_, err = pub.sensors.ListSensors(ctx, &sensoctov1.ListSensorsRequest{})
			if e := expectCode(err, connect.CodePermissionDenied); e != nil {
				return fmt.Errorf("ListSensors with a publish-scope token: %w", e)
			}
			if _, err := me.auth.RevokeApiToken(ctx, &sensoctov1.RevokeApiTokenRequest{TokenId: tokenID}); err != nil {
				return must("RevokeApiToken", err)
			}
			if list, err = me.auth.ListApiTokens(ctx, &sensoctov1.ListApiTokensRequest{}); err != nil {
				return must("ListApiTokens", err)
			}
			if hasToken(list, tokenID) {
				return fmt.Errorf("ListApiTokens without the revoked %s, got it", tokenID)
			}
			_, err = pub.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{number("heartrate", 0, 60)}})
			if e := expectCode(err, connect.CodeUnauthenticated); e != nil {
				return fmt.Errorf("publishing with the revoked token: %w", e)
			}
			return nil
		})
}

func hasToken(list *sensoctov1.ListApiTokensResponse, id string) bool {
	for _, t := range list.GetTokens() {
		if t.GetTokenId() == id {
			return true
		}
	}
	return false
}

// signOutAtEnd revokes a session token at the end.
func (s *suite) signOutAtEnd(token string) {
	s.cleanup(func(ctx context.Context) {
		_, _ = s.client(protocols[0], token).auth.SignOut(ctx, &sensoctov1.SignOutRequest{})
	})
}

// number is a numeric measurement.
func number(attribute string, timeUS int64, v float64) *sensoctov1.Measurement {
	return &sensoctov1.Measurement{AttributeId: attribute, TimeUs: timeUS, Value: &sensoctov1.Measurement_Number{Number: v}}
}
