package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// caller is who calls a procedure in the authorization matrix.
type caller int

const (
	nobody  caller = iota // no credential
	guest                 // a guest (not the owner of anything used)
	other                 // another registered user (not a member of the rooms used)
	owner                 // the registered user owning the resources used
	publish               // the owner's API token with scope publish
	member                // a registered user, a plain member of the owner's rooms
	admin                 // a registered user, an admin of the owner's rooms
	numCallers
)

var callerNames = [numCallers]string{"nobody", "guest", "other", "owner", "publish-token", "member", "admin"}

const ok = connect.Code(0)

// want lists the expected code per caller: nobody, guest, other, owner, publish token,
// member, admin.
type want [numCallers]connect.Code

// users is the want of a procedure outside rooms: nobody, guest, other, owner, publish
// token; the room member and admin are just other users to it.
func users(nobody, guest, other, owner, publish connect.Code) want {
	return want{nobody, guest, other, owner, publish, other, other}
}

var (
	// public procedures work for everyone.
	public = users(ok, ok, ok, ok, ok)
	// signedIn procedures work for any signed-in user with a full-scope credential.
	signedIn = users(connect.CodeUnauthenticated, ok, ok, ok, connect.CodePermissionDenied)
	// ownerOnly procedures work for the owner; others do not see the resource.
	ownerOnly = users(connect.CodeUnauthenticated, connect.CodeNotFound, connect.CodeNotFound, ok, connect.CodePermissionDenied)
)

// matrixRow calls one procedure as who and says what each caller gets.
type matrixRow struct {
	want want
	call func(t *testing.T, m *matrix, who caller) error
}

// matrixRows has one row per procedure of every registered service. A service
// registered without rows fails TestAuthorizationMatrix: add its rows here.
var matrixRows = map[string]matrixRow{
	// SystemService: any signed-in user.
	sensoctov1connect.SystemServiceGetStatusProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.system(who).GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
		return err
	}},
	sensoctov1connect.SystemServiceWatchStatusProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s, err := m.system(who).WatchStatus(ctx, &sensoctov1.WatchStatusRequest{})
		if err != nil {
			return err
		}
		defer func() { _ = s.Close() }()
		if !s.Receive() {
			return s.Err()
		}
		return nil
	}},

	// AuthService: sign-in procedures are public.
	sensoctov1connect.AuthServiceGetAuthConfigProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).GetAuthConfig(t.Context(), &sensoctov1.GetAuthConfigRequest{})
		return err
	}},
	sensoctov1connect.AuthServiceSignInGuestProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).SignInGuest(t.Context(), &sensoctov1.SignInGuestRequest{})
		return err
	}},
	sensoctov1connect.AuthServiceSignUpProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		// A guest signing up is upgraded: give it a fresh guest so the shared one stays.
		_, err := m.authAs(m.fresh(t, who)).SignUp(t.Context(), &sensoctov1.SignUpRequest{
			Email: m.newEmail(), Password: "long-enough-password",
		})
		return err
	}},
	sensoctov1connect.AuthServiceSignInProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).SignIn(t.Context(), &sensoctov1.SignInRequest{Email: ownerEmail, Password: password})
		return err
	}},
	sensoctov1connect.AuthServiceRequestMagicLinkProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).RequestMagicLink(t.Context(), &sensoctov1.RequestMagicLinkRequest{Email: m.newEmail()})
		return err
	}},
	sensoctov1connect.AuthServiceVerifyMagicLinkProcedure: {public, func(t *testing.T, m *matrix, who caller) error {
		secret := m.magicLink(t, m.newEmail())
		_, err := m.authAs(m.fresh(t, who)).VerifyMagicLink(t.Context(), &sensoctov1.VerifyMagicLinkRequest{Secret: secret})
		return err
	}},
	sensoctov1connect.AuthServiceBeginOidcSignInProcedure: {
		// No OpenID provider is configured here (TestOIDCSignIn covers one).
		users(connect.CodeFailedPrecondition, connect.CodeFailedPrecondition, connect.CodeFailedPrecondition, connect.CodeFailedPrecondition, connect.CodeFailedPrecondition),
		func(t *testing.T, m *matrix, who caller) error {
			_, err := m.auth(who).BeginOidcSignIn(t.Context(), &sensoctov1.BeginOidcSignInRequest{ReturnTo: "/lobby"})
			return err
		},
	},
	// AuthService: the caller's own account.
	sensoctov1connect.AuthServiceSignOutProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.authAs(m.fresh(t, who)).SignOut(t.Context(), &sensoctov1.SignOutRequest{})
		return err
	}},
	sensoctov1connect.AuthServiceGetMeProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).GetMe(t.Context(), &sensoctov1.GetMeRequest{})
		return err
	}},
	sensoctov1connect.AuthServiceUpdateMeProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		prefs, _ := structpb.NewStruct(map[string]any{"theme": "dark"})
		_, err := m.auth(who).UpdateMe(t.Context(), &sensoctov1.UpdateMeRequest{Preferences: prefs})
		return err
	}},
	sensoctov1connect.AuthServiceCreateApiTokenProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "t", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH})
		return err
	}},
	sensoctov1connect.AuthServiceListApiTokensProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
		_, err := m.auth(who).ListApiTokens(t.Context(), &sensoctov1.ListApiTokensRequest{})
		return err
	}},
	sensoctov1connect.AuthServiceRevokeApiTokenProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
		// A new token of the owner's each time, so revoking it does not change others.
		tok, err := m.auth(owner).CreateApiToken(t.Context(), &sensoctov1.CreateApiTokenRequest{Name: "target", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_FULL})
		if err != nil {
			t.Fatalf("create target token: %v", err)
		}
		_, err = m.auth(who).RevokeApiToken(t.Context(), &sensoctov1.RevokeApiTokenRequest{TokenId: tok.GetToken().GetTokenId()})
		return err
	}},
}

const (
	ownerEmail  = "owner@example.com"
	otherEmail  = "other@example.com"
	memberEmail = "member@example.com"
	adminEmail  = "admin@example.com"
	password    = "long-enough-password"
)

// matrix is a server with one credential per caller.
type matrix struct {
	url      string
	services []string
	handler  http.Handler
	tokens   [numCallers]string
	emails   atomic.Int64
}

func (m *matrix) authAs(token string) sensoctov1connect.AuthServiceClient {
	return sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), m.url)
}

func (m *matrix) auth(who caller) sensoctov1connect.AuthServiceClient {
	return m.authAs(m.tokens[who])
}

func (m *matrix) system(who caller) sensoctov1connect.SystemServiceClient {
	return sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, m.tokens[who]), m.url)
}

func (m *matrix) newEmail() string {
	return fmt.Sprintf("user%d@example.com", m.emails.Add(1))
}

// fresh returns a new credential of the same kind as who's, for calls that consume or
// change the credential (SignOut, a guest's SignUp).
func (m *matrix) fresh(t *testing.T, who caller) string {
	t.Helper()
	ctx := t.Context()
	switch who {
	case guest:
		return signInGuest(t, m.url)
	case other, owner, member, admin:
		email := map[caller]string{other: otherEmail, owner: ownerEmail, member: memberEmail, admin: adminEmail}[who]
		res, err := m.auth(nobody).SignIn(ctx, &sensoctov1.SignInRequest{Email: email, Password: password})
		if err != nil {
			t.Fatalf("sign in %s: %v", email, err)
		}
		return res.GetSession().GetToken()
	case publish:
		res, err := m.auth(owner).CreateApiToken(ctx, &sensoctov1.CreateApiTokenRequest{Name: "connector", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH})
		if err != nil {
			t.Fatalf("create publish token: %v", err)
		}
		return res.GetSecret()
	}
	return ""
}

// magicLink requests a link for email and reads its secret from the dev mailbox.
func (m *matrix) magicLink(t *testing.T, email string) string {
	t.Helper()
	if _, err := m.auth(nobody).RequestMagicLink(t.Context(), &sensoctov1.RequestMagicLinkRequest{Email: email}); err != nil {
		t.Fatalf("RequestMagicLink: %v", err)
	}
	for _, msg := range readMailbox(t, m.url) {
		if msg.To == email {
			_, secret, found := strings.Cut(msg.Link, "/signin/magic?secret=")
			if !found {
				t.Fatalf("mail link %q has no secret", msg.Link)
			}
			return secret
		}
	}
	t.Fatalf("no mail to %s in the dev mailbox", email)
	return ""
}

type mailboxMessage struct {
	ID      int64  `json:"id"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Link    string `json:"link"`
	SentAt  string `json:"sentAt"`
}

func readMailbox(t *testing.T, url string) []mailboxMessage {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/dev/mailbox", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /dev/mailbox: %v", err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /dev/mailbox = %d %s", res.StatusCode, body)
	}
	var msgs []mailboxMessage
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("decode mailbox %s: %v", body, err)
	}
	return msgs
}

func newMatrix(t *testing.T, dialect string) *matrix {
	t.Helper()
	srv := startServer(t, dialect, map[string]string{
		"SENSOCTO_DEV":             "true",
		"SENSOCTO_AUTH_RATE_LIMIT": "10000",
	})
	m := &matrix{url: srv.url, services: srv.app.ServiceNames(), handler: srv.app.Handler()}
	ctx := t.Context()
	m.tokens[guest] = signInGuest(t, m.url)
	for who, email := range map[caller]string{other: otherEmail, owner: ownerEmail, member: memberEmail, admin: adminEmail} {
		res, err := m.auth(nobody).SignUp(ctx, &sensoctov1.SignUpRequest{Email: email, Password: password})
		if err != nil {
			t.Fatalf("sign up %s: %v", email, err)
		}
		m.tokens[who] = res.GetSession().GetToken()
	}
	m.tokens[publish] = m.fresh(t, publish)
	return m
}

// servedProcedures lists "/pkg.Service/Method" for every method of every sensocto
// service (from the generated descriptors linked into this binary) that h actually
// serves: a procedure is served when its path is not a 404. A mounted handler answers a
// GET with 405 (or another code of its own), an unmounted path is a 404, so the list
// does not depend on any bookkeeping of the app's.
func servedProcedures(t *testing.T, h http.Handler) (procs []string, services []string) {
	t.Helper()
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "sensocto.") {
			return true
		}
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			served := false
			for j := range sd.Methods().Len() {
				proc := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, proc, nil))
				if rec.Code != http.StatusNotFound {
					procs = append(procs, proc)
					served = true
				}
			}
			if served {
				services = append(services, string(sd.FullName()))
			}
		}
		return true
	})
	sort.Strings(procs)
	sort.Strings(services)
	return procs, services
}

// TestAuthorizationMatrix calls every procedure the app serves as nobody, a guest,
// another user, the owner, the owner's publish-scoped API token, and a member and an
// admin of the owner's rooms, and checks the code each gets. The procedures come from what the handler serves, checked both ways against
// matrixRows: a served procedure without a row fails, and so does a row for a procedure
// that is not served. The app's own list of services (reflection, health) must match.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			m := newMatrix(t, dialect)
			procs, services := servedProcedures(t, m.handler)
			if len(procs) < 10 {
				t.Fatalf("only %d procedures served: %v", len(procs), procs)
			}
			listed := append([]string(nil), m.services...)
			sort.Strings(listed)
			if !slices.Equal(listed, services) {
				t.Errorf("the app lists services %v (reflection, health), but serves %v", listed, services)
			}
			served := map[string]bool{}
			for _, proc := range procs {
				served[proc] = true
			}
			for proc := range matrixRows {
				if !served[proc] {
					t.Errorf("the authorization matrix has a row for %s, which is not served", proc)
				}
			}
			for _, proc := range procs {
				row, found := matrixRows[proc]
				if !found {
					t.Errorf("%s is served but has no row in the authorization matrix", proc)
					continue
				}
				t.Run(strings.TrimPrefix(proc, "/sensocto.v1."), func(t *testing.T) {
					for who := range numCallers {
						err := row.call(t, m, who)
						if got := connect.CodeOf(err); (err == nil && row.want[who] != ok) || (err != nil && got != row.want[who]) {
							t.Errorf("as %s: %v, want %s", callerNames[who], err, codeName(row.want[who]))
						}
					}
				})
			}
		})
	}
}

func codeName(c connect.Code) string {
	if c == ok {
		return "ok"
	}
	return c.String()
}
