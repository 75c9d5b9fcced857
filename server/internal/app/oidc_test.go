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

// TestOIDCCallbackRefusesForgedState checks login CSRF: an attacker signs in at the
// provider in its own browser and has a victim's browser open the callback with the
// attacker's code and state. Whether the victim's browser started a sign-in of its own
// (another state cookie) or not (none), the callback refuses it, sets no session, and
// the victim's browser (with its cookies) is not signed in. The attacker's own browser
// then completes the same callback: the code was good, only the state was foreign.
func TestOIDCCallbackRefusesForgedState(t *testing.T) {
	t.Parallel()
	issuer, clients := startProvider(t)
	srv := startServer(t, "sqlite", map[string]string{
		"SENSOCTO_OIDC_ISSUER":        issuer,
		"SENSOCTO_OIDC_CLIENT_ID":     oidcClientID,
		"SENSOCTO_OIDC_CLIENT_SECRET": oidcClientSecret,
	})
	clients[oidcClientID] = storage.WebClient(oidcClientID, oidcClientSecret, srv.url+"/auth/oidc/callback")
	appURL, _ := url.Parse(srv.url)

	// browser returns a client with cookies that stops at the first redirect matching stop.
	browser := func(stop func(*url.URL) bool) *http.Client {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if stop(req.URL) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	}
	atCallback := func(u *url.URL) bool { return u.Host == appURL.Host && u.Path == "/auth/oidc/callback" }
	beginSignIn := func(c *http.Client) string {
		begin, err := sensoctov1connect.NewAuthServiceClient(c, srv.url).BeginOidcSignIn(t.Context(), &sensoctov1.BeginOidcSignInRequest{ReturnTo: "/settings"})
		if err != nil {
			t.Fatalf("BeginOidcSignIn: %v", err)
		}
		return begin.GetAuthorizationUrl()
	}
	signedIn := func(c *http.Client) error {
		_, err := sensoctov1connect.NewAuthServiceClient(c, srv.url).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
		return err
	}

	// The attacker signs in at the provider and keeps the callback URL.
	attacker := browser(atCallback)
	page := get(t, attacker, beginSignIn(attacker))
	m := hiddenID.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no provider login form at %s:\n%.500s", page.url, page.body)
	}
	res, err := attacker.PostForm(issuer+"/login/username", url.Values{"id": {m[1]}, "username": {"test-user@localhost"}, "password": {"verysecure"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	callback, err := res.Request.URL.Parse(res.Header.Get("Location"))
	if err != nil || !atCallback(callback) || callback.Query().Get("code") == "" || callback.Query().Get("state") == "" {
		t.Fatalf("the provider redirected to %q (%d), want the app's callback with code and state", res.Header.Get("Location"), res.StatusCode)
	}

	// Victims: one in the middle of its own sign-in (its own state cookie), one without.
	midway := browser(func(u *url.URL) bool { return u.Host != appURL.Host || u.Path == "/settings" })
	if r := get(t, midway, beginSignIn(midway)); !strings.HasPrefix(r.url, srv.url) {
		t.Fatalf("the victim's sign-in did not stop at the app's redirect: %s", r.url)
	}
	stateCookies := 0
	for _, c := range midway.Jar.Cookies(appURL) {
		if c.Name != "sensocto_session" {
			stateCookies++
		}
	}
	if stateCookies == 0 {
		t.Fatal("the victim's sign-in left no state cookie: the test would not show what a foreign state does")
	}
	fresh := browser(func(u *url.URL) bool { return u.Host != appURL.Host })
	for name, victim := range map[string]*http.Client{"midway": midway, "fresh": fresh} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, callback.String(), nil)
		noFollow := &http.Client{Jar: victim.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/signin?error=") {
			t.Errorf("%s: forged callback = %d to %q, want a redirect to /signin with an error", name, res.StatusCode, loc)
		}
		for _, c := range res.Cookies() {
			if c.Name == "sensocto_session" && c.Value != "" {
				t.Errorf("%s: forged callback set a session cookie", name)
			}
		}
		if err := signedIn(victim); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: GetMe with the victim's cookies = %v, want unauthenticated", name, err)
		}
	}

	// The same callback in the attacker's own browser signs the attacker in.
	attacker.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == appURL.Host && req.URL.Path == "/settings" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	if r := get(t, attacker, callback.String()); !strings.HasPrefix(r.url, callback.String()) {
		t.Fatalf("attacker's callback ended at %s", r.url)
	}
	if err := signedIn(attacker); err != nil {
		t.Errorf("the attacker's own callback did not sign it in (so the victims' check proves nothing): %v", err)
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
