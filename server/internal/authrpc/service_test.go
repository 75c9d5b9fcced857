package authrpc_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authrpc"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/mail"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
)

// TestAuthService serves AuthService alone over a real accounts domain (SQLite, the
// credentials it issues resolved by the same service) and walks each RPC through each
// protocol.
func TestAuthService(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	mailbox := mail.NewMailbox(100)
	svc, err := accounts.New(accounts.Options{
		Ent: db.Client, Logger: dbtest.Logger(t), PublicURL: "http://sensocto.test",
		Mailer: mailbox, Password: accounts.TestPasswordParams, RatePerMinute: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := rpctest.Serve(t, svc, func(opts ...connect.HandlerOption) (string, http.Handler) {
		return sensoctov1connect.NewAuthServiceHandler(authrpc.New(svc, "http://sensocto.test", false), opts...)
	})

	for _, p := range rpctest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			client := func(token string) sensoctov1connect.AuthServiceClient {
				return sensoctov1connect.NewAuthServiceClient(srv.HTTPClient(), srv.URL, p.As(token)...)
			}
			anon := client("")
			email := p.Name + "@example.com"

			t.Run("GetAuthConfig", func(t *testing.T) {
				res, err := anon.GetAuthConfig(t.Context(), &sensoctov1.GetAuthConfigRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if !res.GetGuestEnabled() || !res.GetPasswordEnabled() || !res.GetMagicLinkEnabled() || res.GetOidcProviderName() != "" {
					t.Errorf("config = %v", res)
				}
			})

			t.Run("guest", func(t *testing.T) {
				ctx, call := connect.NewClientContext(t.Context())
				g, err := anon.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{DisplayName: "Gus " + p.Name})
				if err != nil {
					t.Fatal(err)
				}
				if !g.GetUser().GetIsGuest() || g.GetUser().GetDisplayName() != "Gus "+p.Name || g.GetToken() == "" {
					t.Fatalf("guest = %v", g)
				}
				if c := call.ResponseHeader().Get("Set-Cookie"); !strings.HasPrefix(c, auth.CookieName+"="+g.GetToken()) || !strings.Contains(c, "HttpOnly") {
					t.Errorf("session cookie = %q", c)
				}
				me, err := client(g.GetToken()).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
				if err != nil || me.GetUser().GetUserId() != g.GetUser().GetUserId() {
					t.Fatalf("GetMe = %v, %v", me, err)
				}
				if _, err := client(g.GetToken()).SignOut(t.Context(), &sensoctov1.SignOutRequest{}); err != nil {
					t.Fatal(err)
				}
				if _, err := client(g.GetToken()).GetMe(t.Context(), &sensoctov1.GetMeRequest{}); rpctest.Code(err) != connect.CodeUnauthenticated {
					t.Errorf("GetMe after SignOut: %v", err)
				}
			})

			t.Run("password", func(t *testing.T) {
				_, err := anon.SignUp(t.Context(), &sensoctov1.SignUpRequest{Email: "not-an-email", Password: "long enough password"})
				if rpctest.Code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "email") {
					t.Errorf("SignUp with a bad email: %v", err)
				}
				up, err := anon.SignUp(t.Context(), &sensoctov1.SignUpRequest{Email: email, Password: "correct horse battery", DisplayName: "Pat"})
				if err != nil {
					t.Fatal(err)
				}
				if !up.GetUser().GetHasPassword() || up.GetUser().GetEmail() != email || up.GetSession().GetToken() == "" {
					t.Fatalf("SignUp = %v", up)
				}
				in, err := anon.SignIn(t.Context(), &sensoctov1.SignInRequest{Email: email, Password: "correct horse battery"})
				if err != nil || in.GetUser().GetUserId() != up.GetUser().GetUserId() {
					t.Fatalf("SignIn = %v, %v", in, err)
				}
				if _, err := anon.SignIn(t.Context(), &sensoctov1.SignInRequest{Email: email, Password: "wrong horse battery"}); rpctest.Code(err) != connect.CodeUnauthenticated {
					t.Errorf("SignIn with a wrong password: %v", err)
				}

				me := client(in.GetSession().GetToken())
				name := "Pat " + p.Name
				upd, err := me.UpdateMe(t.Context(), &sensoctov1.UpdateMeRequest{DisplayName: &name})
				if err != nil || upd.GetUser().GetDisplayName() != name {
					t.Fatalf("UpdateMe = %v, %v", upd, err)
				}
				empty := ""
				if _, err := me.UpdateMe(t.Context(), &sensoctov1.UpdateMeRequest{DisplayName: &empty}); rpctest.Code(err) != connect.CodeInvalidArgument {
					t.Errorf("UpdateMe with an empty name: %v", err)
				}

				// API tokens: create, list, use, revoke.
				created, err := me.CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "ci", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_FULL})
				if err != nil || created.GetSecret() == "" || created.GetToken().GetName() != "ci" {
					t.Fatalf("CreateApiToken = %v, %v", created, err)
				}
				list, err := me.ListApiTokens(t.Context(), &sensoctov1.ListApiTokensRequest{})
				if err != nil || len(list.GetTokens()) != 1 || list.GetTokens()[0].GetTokenId() != created.GetToken().GetTokenId() {
					t.Fatalf("ListApiTokens = %v, %v", list, err)
				}
				if got, err := client(created.GetSecret()).GetMe(t.Context(), &sensoctov1.GetMeRequest{}); err != nil || got.GetUser().GetUserId() != up.GetUser().GetUserId() {
					t.Fatalf("GetMe with the API token = %v, %v", got, err)
				}
				if _, err := me.RevokeApiToken(t.Context(), &sensoctov1.RevokeApiTokenRequest{TokenId: "nope"}); rpctest.Code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "token_id") {
					t.Errorf("RevokeApiToken of a bad id: %v", err)
				}
				if _, err := me.RevokeApiToken(t.Context(), &sensoctov1.RevokeApiTokenRequest{TokenId: created.GetToken().GetTokenId()}); err != nil {
					t.Fatal(err)
				}
				if _, err := client(created.GetSecret()).GetMe(t.Context(), &sensoctov1.GetMeRequest{}); rpctest.Code(err) != connect.CodeUnauthenticated {
					t.Errorf("GetMe with the revoked token: %v", err)
				}

				// A publish-scope token may call nothing of AuthService.
				pub, err := me.CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "connector", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := client(pub.GetSecret()).GetMe(t.Context(), &sensoctov1.GetMeRequest{}); rpctest.Code(err) != connect.CodePermissionDenied {
					t.Errorf("GetMe with a publish token: %v", err)
				}
			})

			t.Run("magic link", func(t *testing.T) {
				to := "magic-" + email
				if _, err := anon.RequestMagicLink(t.Context(), &sensoctov1.RequestMagicLinkRequest{Email: to, ReturnTo: "/lobby"}); err != nil {
					t.Fatal(err)
				}
				var link string
				for _, m := range mailbox.List() {
					if m.To == to {
						link = m.Link
					}
				}
				u, err := url.Parse(link)
				if err != nil || u.Query().Get("secret") == "" {
					t.Fatalf("no magic link mailed to %s (got %q)", to, link)
				}
				v, err := anon.VerifyMagicLink(t.Context(), &sensoctov1.VerifyMagicLinkRequest{Secret: u.Query().Get("secret")})
				if err != nil || v.GetUser().GetEmail() != to || v.GetReturnTo() != "/lobby" || v.GetSession().GetToken() == "" {
					t.Fatalf("VerifyMagicLink = %v, %v", v, err)
				}
				if _, err := anon.VerifyMagicLink(t.Context(), &sensoctov1.VerifyMagicLinkRequest{Secret: u.Query().Get("secret")}); rpctest.Code(err) != connect.CodeUnauthenticated {
					t.Errorf("a magic link used twice: %v", err)
				}
			})

			t.Run("OpenID not configured", func(t *testing.T) {
				_, err := anon.BeginOidcSignIn(t.Context(), &sensoctov1.BeginOidcSignInRequest{ReturnTo: "/"})
				if rpctest.Code(err) != connect.CodeFailedPrecondition {
					t.Errorf("BeginOidcSignIn = %v", err)
				}
			})

			t.Run("signed-in RPCs need a credential", func(t *testing.T) {
				calls := map[string]func(context.Context) error{
					"GetMe": func(ctx context.Context) error {
						_, err := anon.GetMe(ctx, &sensoctov1.GetMeRequest{})
						return err
					},
					"SignOut": func(ctx context.Context) error {
						_, err := anon.SignOut(ctx, &sensoctov1.SignOutRequest{})
						return err
					},
					"ListApiTokens": func(ctx context.Context) error {
						_, err := anon.ListApiTokens(ctx, &sensoctov1.ListApiTokensRequest{})
						return err
					},
				}
				for name, call := range calls {
					if err := call(t.Context()); rpctest.Code(err) != connect.CodeUnauthenticated {
						t.Errorf("%s without a credential: %v", name, err)
					}
				}
			})
		})
	}
}
