// Package authrpc serves sensocto.v1.AuthService over Connect and the plain HTTP
// routes of sign-in: the OpenID Connect login and callback (the relying-party protocol,
// with zitadel/oidc) and the development mailbox. It converts between protobuf and the
// accounts domain and sets the session cookie; the domain decides everything else.
package authrpc

import (
	"context"
	"net/url"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// Handler implements sensoctov1connect.AuthServiceHandler.
type Handler struct {
	svc       *accounts.Service
	publicURL string
	oidc      bool
}

var _ sensoctov1connect.AuthServiceHandler = (*Handler)(nil)

// New returns a Handler. publicURL is the server's base URL; oidcEnabled says the OpenID
// routes are mounted.
func New(svc *accounts.Service, publicURL string, oidcEnabled bool) *Handler {
	return &Handler{svc: svc, publicURL: publicURL, oidc: oidcEnabled}
}

// GetAuthConfig lists the sign-in methods.
func (h *Handler) GetAuthConfig(_ context.Context, _ *sensoctov1.GetAuthConfigRequest) (*sensoctov1.GetAuthConfigResponse, error) {
	m := h.svc.Methods()
	res := &sensoctov1.GetAuthConfigResponse{
		GuestEnabled:         m.Guest,
		PasswordEnabled:      m.Password,
		MagicLinkEnabled:     m.MagicLink,
		DevMailboxEnabled:    m.DevMailbox,
		EmailDeliveryEnabled: m.EmailDelivery,
	}
	if h.oidc {
		res.OidcProviderName = m.OIDCProviderName
	}
	return res, nil
}

// SignInGuest creates a guest and signs it in.
func (h *Handler) SignInGuest(ctx context.Context, req *sensoctov1.SignInGuestRequest) (*sensoctov1.SignInGuestResponse, error) {
	s, err := h.svc.SignInGuest(ctx, req.GetDisplayName())
	if err != nil {
		return nil, err
	}
	setSessionCookie(ctx, s)
	return &sensoctov1.SignInGuestResponse{Token: s.Secret, User: userToProto(s.User), ExpiresAt: timestamppb.New(s.ExpiresAt)}, nil
}

// SignUp creates an account (or upgrades the calling guest) and signs it in.
func (h *Handler) SignUp(ctx context.Context, req *sensoctov1.SignUpRequest) (*sensoctov1.SignUpResponse, error) {
	s, err := h.svc.SignUp(ctx, req.GetEmail(), req.GetPassword(), req.GetDisplayName())
	if err != nil {
		return nil, err
	}
	setSessionCookie(ctx, s)
	return &sensoctov1.SignUpResponse{Session: sessionToProto(s), User: userToProto(s.User)}, nil
}

// SignIn signs in with a password.
func (h *Handler) SignIn(ctx context.Context, req *sensoctov1.SignInRequest) (*sensoctov1.SignInResponse, error) {
	s, err := h.svc.SignIn(ctx, req.GetEmail(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	setSessionCookie(ctx, s)
	return &sensoctov1.SignInResponse{Session: sessionToProto(s), User: userToProto(s.User)}, nil
}

// RequestMagicLink sends a sign-in link.
func (h *Handler) RequestMagicLink(ctx context.Context, req *sensoctov1.RequestMagicLinkRequest) (*sensoctov1.RequestMagicLinkResponse, error) {
	if err := h.svc.RequestMagicLink(ctx, req.GetEmail(), req.GetReturnTo()); err != nil {
		return nil, err
	}
	return &sensoctov1.RequestMagicLinkResponse{}, nil
}

// VerifyMagicLink signs in with a link's secret.
func (h *Handler) VerifyMagicLink(ctx context.Context, req *sensoctov1.VerifyMagicLinkRequest) (*sensoctov1.VerifyMagicLinkResponse, error) {
	s, returnTo, err := h.svc.VerifyMagicLink(ctx, req.GetSecret())
	if err != nil {
		return nil, err
	}
	setSessionCookie(ctx, s)
	return &sensoctov1.VerifyMagicLinkResponse{Session: sessionToProto(s), User: userToProto(s.User), ReturnTo: SafeReturnTo(returnTo)}, nil
}

// BeginOidcSignIn returns the server's OpenID login route, which redirects to the
// provider with state, nonce and PKCE kept in encrypted cookies.
func (h *Handler) BeginOidcSignIn(_ context.Context, req *sensoctov1.BeginOidcSignInRequest) (*sensoctov1.BeginOidcSignInResponse, error) {
	if !h.oidc {
		return nil, apperr.FailedPrecondition("OpenID sign-in is not configured on this server")
	}
	u := h.publicURL + LoginPath + "?return_to=" + url.QueryEscape(SafeReturnTo(req.GetReturnTo()))
	return &sensoctov1.BeginOidcSignInResponse{AuthorizationUrl: u}, nil
}

// SignOut revokes the credential used and clears the cookie.
func (h *Handler) SignOut(ctx context.Context, _ *sensoctov1.SignOutRequest) (*sensoctov1.SignOutResponse, error) {
	if err := h.svc.SignOut(ctx); err != nil {
		return nil, err
	}
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		auth.ClearSessionCookies(ci.ResponseHeader(), authz.IsSecure(ctx))
	}
	return &sensoctov1.SignOutResponse{}, nil
}

// GetMe returns the caller.
func (h *Handler) GetMe(ctx context.Context, _ *sensoctov1.GetMeRequest) (*sensoctov1.GetMeResponse, error) {
	u, err := h.svc.Me(ctx)
	if err != nil {
		return nil, err
	}
	return &sensoctov1.GetMeResponse{User: userToProto(u)}, nil
}

// UpdateMe changes the caller's name or preferences.
func (h *Handler) UpdateMe(ctx context.Context, req *sensoctov1.UpdateMeRequest) (*sensoctov1.UpdateMeResponse, error) {
	var prefs map[string]any
	if req.GetPreferences() != nil {
		prefs = req.GetPreferences().AsMap()
	}
	u, err := h.svc.UpdateMe(ctx, req.DisplayName, prefs, req.IfPreferencesVersion)
	if err != nil {
		return nil, err
	}
	return &sensoctov1.UpdateMeResponse{User: userToProto(u)}, nil
}

// CreateApiToken creates an API token and returns its secret once.
func (h *Handler) CreateApiToken(ctx context.Context, req *sensoctov1.CreateApiTokenRequest) (*sensoctov1.CreateApiTokenResponse, error) { //nolint:revive // var-naming: the name is fixed by the generated interface
	var scope authz.Scope
	switch req.GetScope() {
	case sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH:
		scope = authz.ScopePublish
	case sensoctov1.TokenScope_TOKEN_SCOPE_FULL:
		scope = authz.ScopeFull
	}
	var expiresIn time.Duration
	if req.GetExpiresIn() != nil {
		expiresIn = req.GetExpiresIn().AsDuration()
	}
	t, secret, err := h.svc.CreateAPIToken(ctx, req.GetName(), scope, expiresIn)
	if err != nil {
		return nil, err
	}
	return &sensoctov1.CreateApiTokenResponse{Token: tokenToProto(t), Secret: secret}, nil
}

// ListApiTokens lists the caller's API tokens.
func (h *Handler) ListApiTokens(ctx context.Context, _ *sensoctov1.ListApiTokensRequest) (*sensoctov1.ListApiTokensResponse, error) { //nolint:revive // var-naming: the name is fixed by the generated interface
	ts, err := h.svc.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	res := &sensoctov1.ListApiTokensResponse{Tokens: make([]*sensoctov1.ApiToken, 0, len(ts))}
	for _, t := range ts {
		res.Tokens = append(res.Tokens, tokenToProto(t))
	}
	return res, nil
}

// RevokeApiToken revokes one of the caller's API tokens.
func (h *Handler) RevokeApiToken(ctx context.Context, req *sensoctov1.RevokeApiTokenRequest) (*sensoctov1.RevokeApiTokenResponse, error) { //nolint:revive // var-naming: the name is fixed by the generated interface
	id, err := uuid.Parse(req.GetTokenId())
	if err != nil {
		return nil, apperr.InvalidArgument("token_id", "must be a UUID")
	}
	if err := h.svc.RevokeAPIToken(ctx, id); err != nil {
		return nil, err
	}
	return &sensoctov1.RevokeApiTokenResponse{}, nil
}

// setSessionCookie sets the session cookie (and its companion) on the response of a
// sign-in RPC.
func setSessionCookie(ctx context.Context, s accounts.Session) {
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		auth.SetSessionCookies(ci.ResponseHeader(), s.Secret, s.ExpiresAt, authz.IsSecure(ctx))
	}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func userToProto(u accounts.User) *sensoctov1.User {
	prefs, err := structpb.NewStruct(u.Preferences)
	if err != nil {
		prefs = &structpb.Struct{}
	}
	return &sensoctov1.User{
		UserId:         u.ID.String(),
		Email:          u.Email,
		DisplayName:    u.DisplayName,
		IsGuest:        u.IsGuest,
		GuestExpiresAt: ts(u.GuestExpiresAt),
		HasPassword:    u.HasPassword,
		OidcIssuer:     u.OIDCIssuer,
		Preferences:    prefs,
		CreatedAt:      ts(u.CreatedAt),

		PreferencesVersion: u.PreferencesVersion,
	}
}

func sessionToProto(s accounts.Session) *sensoctov1.Session {
	return &sensoctov1.Session{Token: s.Secret, ExpiresAt: timestamppb.New(s.ExpiresAt)}
}

func tokenToProto(t accounts.APIToken) *sensoctov1.ApiToken {
	scope := sensoctov1.TokenScope_TOKEN_SCOPE_FULL
	if t.Scope == authz.ScopePublish {
		scope = sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH
	}
	return &sensoctov1.ApiToken{
		TokenId:    t.ID.String(),
		Name:       t.Name,
		Scope:      scope,
		CreatedAt:  ts(t.CreatedAt),
		ExpiresAt:  ts(t.ExpiresAt),
		LastUsedAt: ts(t.LastUsedAt),
		Prefix:     t.Prefix,
	}
}

// SafeReturnTo returns p if it is a same-site relative path ("/x?y#z": one leading slash,
// not followed by '/' or '\', no backslash or control characters, at most 512 bytes),
// else "/". It keeps redirects after sign-in from leaving the site.
func SafeReturnTo(p string) string {
	if p == "" || len(p) > 512 || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
		return "/"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}
