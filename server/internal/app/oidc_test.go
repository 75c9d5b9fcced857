package app_test

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

const (
	oidcClientID     = "sensocto"
	oidcClientSecret = "sensocto-secret"
)

// startProvider runs zitadel/oidc's example OpenID provider in-process. Its issuer is on
// "localhost" so that a cookie jar keeps its cookies apart from the app's on 127.0.0.1.
// Register the app as a client in the returned map before the first sign-in.
func startProvider(t *testing.T) (issuer string, clients map[string]*storage.Client) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	issuer = "http://localhost:" + port
	clients = map[string]*storage.Client{}
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	op := httptest.NewUnstartedServer(exampleop.SetupServer(issuer, st, nil, false))
	_ = op.Listener.Close()
	op.Listener = ln
	op.Start()
	t.Cleanup(op.Close)
	return issuer, clients
}

var hiddenID = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)

// TestOIDCSignIn signs in through a real OpenID provider over HTTP, as a browser would:
// BeginOidcSignIn, the app's login route, the provider's login form, the callback, and
// then an RPC authenticated by the session cookie alone.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			issuer, clients := startProvider(t)
			srv := startServer(t, dialect, map[string]string{
				"SENSOCTO_OIDC_ISSUER":        issuer,
				"SENSOCTO_OIDC_CLIENT_ID":     oidcClientID,
				"SENSOCTO_OIDC_CLIENT_SECRET": oidcClientSecret,
				"SENSOCTO_OIDC_PROVIDER_NAME": "Example ID",
			})
			clients[oidcClientID] = storage.WebClient(oidcClientID, oidcClientSecret, srv.url+"/auth/oidc/callback")
			appURL, _ := url.Parse(srv.url)

			// An existing account with the provider's verified email gets linked.
			anon := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, srv.url)
			existing, err := anon.SignUp(t.Context(), &sensoctov1.SignUpRequest{Email: "Test-User@zitadel.ch", Password: "long-enough-password"})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := anon.GetAuthConfig(t.Context(), &sensoctov1.GetAuthConfigRequest{})
			if err != nil || cfg.GetOidcProviderName() != "Example ID" {
				t.Fatalf("GetAuthConfig = %v, %v", cfg, err)
			}

			for round := range 2 { // the second sign-in finds the linked identity
				jar, err := cookiejar.New(nil)
				if err != nil {
					t.Fatal(err)
				}
				browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
					if req.URL.Host == appURL.Host && req.URL.Path == "/settings" {
						return http.ErrUseLastResponse // the web app's page: stop here
					}
					return nil
				}}
				begin, err := sensoctov1connect.NewAuthServiceClient(browser, srv.url).
					BeginOidcSignIn(t.Context(), &sensoctov1.BeginOidcSignInRequest{ReturnTo: "/settings"})
				if err != nil {
					t.Fatalf("BeginOidcSignIn: %v", err)
				}

				// The app's login route redirects to the provider, which shows its form.
				page := get(t, browser, begin.GetAuthorizationUrl())
				m := hiddenID.FindStringSubmatch(page.body)
				if m == nil || !strings.HasPrefix(page.url, issuer+"/login/username") {
					t.Fatalf("round %d: expected the provider's login form at %s, got %s:\n%.500s", round, issuer, page.url, page.body)
				}
				form := url.Values{"id": {m[1]}, "username": {"test-user@localhost"}, "password": {"verysecure"}}
				res, err := browser.PostForm(issuer+"/login/username", form)
				if err != nil {
					t.Fatalf("submit login form: %v", err)
				}
				_ = res.Body.Close()
				// The provider redirected to the app's callback, which set the session
				// cookie and redirected to the return path.
				if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/settings" {
					t.Fatalf("round %d: after login: %d at %s, Location %q; want 302 to /settings", round, res.StatusCode, res.Request.URL, res.Header.Get("Location"))
				}
				me, err := sensoctov1connect.NewAuthServiceClient(browser, srv.url).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
				if err != nil {
					t.Fatalf("round %d: GetMe with the session cookie: %v", round, err)
				}
				u := me.GetUser()
				if u.GetUserId() != existing.GetUser().GetUserId() || u.GetOidcIssuer() != issuer || u.GetEmail() != "test-user@zitadel.ch" {
					t.Errorf("round %d: signed in as %v, want the existing account %s linked to %s", round, u, existing.GetUser().GetUserId(), issuer)
				}
			}
		})
	}
}

// TestOIDCCallbackRefusesForgedState checks a callback without the login's state cookie
// (a CSRF attempt or a replay) signs nobody in.
func TestOIDCCallbackRefusesForgedState(t *testing.T) {
	t.Parallel()
	issuer, clients := startProvider(t)
	srv := startServer(t, "sqlite", map[string]string{
		"SENSOCTO_OIDC_ISSUER":    issuer,
		"SENSOCTO_OIDC_CLIENT_ID": oidcClientID,
	})
	clients[oidcClientID] = storage.WebClient(oidcClientID, "", srv.url+"/auth/oidc/callback")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.url+"/auth/oidc/callback?code=x&state=y", nil)
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/signin?error=") {
		t.Errorf("forged callback = %d to %q, want a redirect to /signin with an error", res.StatusCode, loc)
	}
	for _, c := range res.Cookies() {
		if c.Name == "sensocto_session" && c.Value != "" {
			t.Error("forged callback set a session cookie")
		}
	}
	_, err = sensoctov1connect.NewAuthServiceClient(http.DefaultClient, srv.url).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("GetMe = %v", err)
	}
}

type page struct {
	url, body string
}

func get(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return page{url: res.Request.URL.String(), body: string(b)}
}
