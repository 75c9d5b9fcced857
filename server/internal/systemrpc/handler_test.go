package systemrpc_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/rpc/rpctest"
	"github.com/sensocto/sensocto/server/internal/system"
	"github.com/sensocto/sensocto/server/internal/systemrpc"
)

func viewer(scope authz.Scope) authz.Viewer {
	return authz.Viewer{UserID: uuid.New(), TokenID: uuid.New(), Kind: authz.KindSession, Scope: scope}
}

// TestSystemService serves SystemService alone (a real system.Service over SQLite) and
// calls it through each protocol.
func TestSystemService(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, "sqlite")
	svc := system.New(system.Options{
		Version: "v-test", GoVersion: "go-test", Dialect: db.Dialect(), DB: db, Ent: db.Client,
		Live: func() system.Live {
			return system.Live{LoadLevel: 2, Score: 0.7, Multiplier: 3, ConnectedSensors: 4, Watchers: 5}
		},
	})
	tokens := rpctest.Tokens{"full": viewer(authz.ScopeFull), "publish": viewer(authz.ScopePublish)}
	for _, p := range rpctest.Protocols {
		tokens["watch-"+p.Name] = viewer(authz.ScopeFull)
	}
	srv := rpctest.Serve(t, tokens, func(opts ...connect.HandlerOption) (string, http.Handler) {
		return sensoctov1connect.NewSystemServiceHandler(systemrpc.New(svc), opts...)
	})

	for _, p := range rpctest.Protocols {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			client := func(token string) sensoctov1connect.SystemServiceClient {
				return sensoctov1connect.NewSystemServiceClient(srv.HTTPClient(), srv.URL, p.As(token)...)
			}

			t.Run("GetStatus", func(t *testing.T) {
				res, err := client("full").GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
				if err != nil {
					t.Fatal(err)
				}
				st := res.GetStatus()
				if st.GetVersion() != "v-test" || st.GetGoVersion() != "go-test" || !strings.HasPrefix(st.GetNode(), "node-") {
					t.Errorf("identity = %q %q %q", st.GetVersion(), st.GetGoVersion(), st.GetNode())
				}
				if d := st.GetDatabase(); d.GetDialect() != "sqlite" || !d.GetReachable() || d.GetError() != "" {
					t.Errorf("database = %v", d)
				}
				if l := st.GetLoad(); l.GetLevel() != sensoctov1.SystemLoadLevel_SYSTEM_LOAD_LEVEL_HIGH || l.GetLoadMultiplier() != 3 || l.GetScore() != 0.7 {
					t.Errorf("load = %v", l)
				}
				if c := st.GetCounts(); c.GetConnectedSensors() != 4 || c.GetWatchers() != 5 || c.GetUsers() != 0 {
					t.Errorf("counts = %v", c)
				}
				if st.GetRuntime().GetGoroutines() <= 0 || st.GetStartedAt().AsTime().IsZero() {
					t.Errorf("runtime = %v, started %v", st.GetRuntime(), st.GetStartedAt())
				}
			})

			t.Run("refusals", func(t *testing.T) {
				_, err := client("").GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
				if rpctest.Code(err) != connect.CodeUnauthenticated {
					t.Errorf("without a credential: %v", err)
				}
				_, err = client("publish").GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
				if rpctest.Code(err) != connect.CodePermissionDenied {
					t.Errorf("with a publish token: %v", err)
				}
				s, err := client("full").WatchStatus(t.Context(), &sensoctov1.WatchStatusRequest{IntervalMs: 60001})
				if err == nil {
					s.Receive()
					err = s.Err()
					s.Close()
				}
				if rpctest.Code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "interval_ms") {
					t.Errorf("interval_ms 60001: %v", err)
				}
			})

			t.Run("WatchStatus", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				s, err := client("watch-"+p.Name).WatchStatus(ctx, &sensoctov1.WatchStatusRequest{IntervalMs: 250})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var sampled []time.Time
				for range 2 {
					if !s.Receive() {
						t.Fatalf("stream ended: %v", s.Err())
					}
					sampled = append(sampled, s.Msg().GetStatus().GetSampledAt().AsTime())
				}
				if !sampled[1].After(sampled[0]) {
					t.Errorf("the second snapshot (%v) is not newer than the first (%v)", sampled[1], sampled[0])
				}
				// Revoking the stream's token ends it with Unauthenticated (the token
				// table still resolves it: only the announcement can end the stream).
				srv.Revocations.TokensRevoked(tokens["watch-"+p.Name].TokenID)
				for s.Receive() {
				}
				if rpctest.Code(s.Err()) != connect.CodeUnauthenticated {
					t.Fatalf("after revocation: %v", s.Err())
				}
			})
		})
	}
}
