package authrpc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/auth"
)

// The OpenID routes.
const (
	LoginPath    = "/auth/oidc/login"
	CallbackPath = "/auth/oidc/callback"
	// stateCookie holds state, nonce and return path between login and callback,
	// encrypted and authenticated with a key derived from the server secret.
	stateCookie = "sensocto_oidc"
	// pkceCookie is where rp.GenerateAndStoreCodeChallenge keeps the PKCE verifier.
	pkceCookie = "pkce"
	// stateLifetime bounds how long a sign-in at the provider may take.
	stateLifetime = 15 * time.Minute
)

// OIDCConfig configures the OpenID relying party.
type OIDCConfig struct {
	Issuer, ClientID, ClientSecret string
	// PublicURL is the server's base URL; the callback is PublicURL + CallbackPath.
	PublicURL string
	// SecretKey is the server secret the cookie keys derive from.
	SecretKey []byte
	// Secure marks cookies Secure (https public URL).
	Secure bool
	// HTTPClient talks to the provider (nil: a client with a 15 s timeout).
	HTTPClient *http.Client
	Logger     zerolog.Logger
}

// OIDC serves the OpenID Connect login and callback routes (authorization code flow with
// PKCE, state and nonce). Discovery happens on first use and is retried until it works,
// so a provider that is down at start-up does not stop the server.
type OIDC struct {
	cfg     OIDCConfig
	svc     *accounts.Service
	cookies *httphelper.CookieHandler

	mu    sync.Mutex
	party rp.RelyingParty
}

// NewOIDC returns the OpenID routes' handler.
func NewOIDC(cfg OIDCConfig, svc *accounts.Service) *OIDC {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	opts := []httphelper.CookieHandlerOpt{httphelper.WithSameSite(http.SameSiteLaxMode), httphelper.WithMaxAge(int(stateLifetime.Seconds()))}
	if !cfg.Secure {
		opts = append(opts, httphelper.WithUnsecure())
	}
	return &OIDC{
		cfg:     cfg,
		svc:     svc,
		cookies: httphelper.NewCookieHandler(deriveKey(cfg.SecretKey, "oidc-cookie-hash"), deriveKey(cfg.SecretKey, "oidc-cookie-encrypt"), opts...),
	}
}

// deriveKey derives a 32-byte key for purpose from the server secret.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sensocto:" + purpose))
	return m.Sum(nil)
}

type nonceKey struct{}

// relyingParty returns the relying party, discovering the provider on first use.
func (o *OIDC) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.party != nil {
		return o.party, nil
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, o.cfg.Issuer, o.cfg.ClientID, o.cfg.ClientSecret,
		o.cfg.PublicURL+CallbackPath, []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile},
		rp.WithCookieHandler(o.cookies),
		rp.WithPKCE(o.cookies),
		rp.WithHTTPClient(o.cfg.HTTPClient),
		rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(
			rp.WithIssuedAtOffset(5*time.Second),
			rp.WithNonce(func(ctx context.Context) string {
				n, _ := ctx.Value(nonceKey{}).(string)
				return n
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("discover OpenID provider %s: %w", o.cfg.Issuer, err)
	}
	o.party = party
	return party, nil
}

// flow is what the state cookie carries.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	ReturnTo string `json:"r"`
}

func random() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// fail logs err and sends the browser back to the sign-in page with a short reason.
func (o *OIDC) fail(w http.ResponseWriter, r *http.Request, reason string, err error) {
	o.cfg.Logger.Warn().Err(err).Str("reason", reason).Msg("OpenID sign-in failed")
	http.Redirect(w, r, "/signin?error="+url.QueryEscape(reason), http.StatusFound)
}

// Login starts a sign-in: GET /auth/oidc/login?return_to=/path. It keeps state, nonce,
// return path and the PKCE verifier in encrypted cookies and redirects to the provider.
func (o *OIDC) Login(w http.ResponseWriter, r *http.Request) {
	party, err := o.relyingParty(r.Context())
	if err != nil {
		o.fail(w, r, "oidc_unavailable", err)
		return
	}
	f := flow{ReturnTo: SafeReturnTo(r.URL.Query().Get("return_to"))}
	if f.State, err = random(); err == nil {
		f.Nonce, err = random()
	}
	if err != nil {
		o.fail(w, r, "oidc_failed", err)
		return
	}
	challenge, err := rp.GenerateAndStoreCodeChallenge(w, party)
	if err != nil {
		o.fail(w, r, "oidc_failed", err)
		return
	}
	b, _ := json.Marshal(f)
	if err := o.cookies.SetCookie(w, stateCookie, string(b)); err != nil {
		o.fail(w, r, "oidc_failed", err)
		return
	}
	http.Redirect(w, r, rp.AuthURL(f.State, party, rp.WithCodeChallenge(challenge), rp.AuthURLOpt(rp.WithURLParam("nonce", f.Nonce))), http.StatusFound)
}

// Callback finishes a sign-in: it checks state, exchanges the code with the PKCE
// verifier, verifies the ID token (signature, audience, nonce), reads userinfo, signs the
// user in, sets the session cookie and redirects to the return path.
func (o *OIDC) Callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	party, err := o.relyingParty(ctx)
	if err != nil {
		o.fail(w, r, "oidc_unavailable", err)
		return
	}
	raw, err := o.cookies.CheckCookie(r, stateCookie)
	if err != nil {
		o.fail(w, r, "oidc_state", fmt.Errorf("read state cookie: %w", err))
		return
	}
	o.cookies.DeleteCookie(w, stateCookie)
	var f flow
	if err := json.Unmarshal([]byte(raw), &f); err != nil || f.State == "" {
		o.fail(w, r, "oidc_state", errors.New("malformed state cookie"))
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		o.fail(w, r, "oidc_state", errors.New("state mismatch"))
		return
	}
	if e := q.Get("error"); e != "" {
		o.fail(w, r, "oidc_denied", fmt.Errorf("provider error %s: %s", e, q.Get("error_description")))
		return
	}
	verifier, err := o.cookies.CheckCookie(r, pkceCookie)
	if err != nil {
		o.fail(w, r, "oidc_state", fmt.Errorf("read PKCE cookie: %w", err))
		return
	}
	o.cookies.DeleteCookie(w, pkceCookie)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(ctx, nonceKey{}, f.Nonce), q.Get("code"), party, rp.WithCodeVerifier(verifier))
	if err != nil {
		o.fail(w, r, "oidc_failed", fmt.Errorf("exchange code: %w", err))
		return
	}
	claims := tokens.IDTokenClaims
	info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, tokens.TokenType, claims.GetSubject(), party)
	if err != nil {
		o.fail(w, r, "oidc_failed", fmt.Errorf("read userinfo: %w", err))
		return
	}
	id := accounts.Identity{
		Issuer:        claims.GetIssuer(),
		Subject:       claims.GetSubject(),
		Email:         info.Email,
		EmailVerified: bool(info.EmailVerified),
		Name:          info.Name,
	}
	if id.Name == "" {
		id.Name = info.PreferredUsername
	}
	s, err := o.svc.SignInOIDC(ctx, id)
	if err != nil {
		o.fail(w, r, "oidc_account", fmt.Errorf("sign in: %w", err))
		return
	}
	auth.SetSessionCookies(w.Header(), s.Secret, s.ExpiresAt, o.cfg.Secure || r.TLS != nil)
	http.Redirect(w, r, SafeReturnTo(f.ReturnTo), http.StatusFound)
}
