package roomdocrpc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/automerge/automerge-go"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/roommembership"
	"github.com/sensocto/sensocto/ent/schematype"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/auth"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/roomdoc"
	"github.com/sensocto/sensocto/server/internal/roomdocrpc"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

// roomService serves the shared-state RPCs of RoomService the way package roomsrpc does:
// SyncRoomState, and WatchRoom carrying only the STATE events here.
type roomService struct {
	sensoctov1connect.UnimplementedRoomServiceHandler
	h *roomdocrpc.Handler
}

func (s roomService) SyncRoomState(ctx context.Context, req *sensoctov1.SyncRoomStateRequest) (*sensoctov1.SyncRoomStateResponse, error) {
	return s.h.SyncRoomState(ctx, req)
}

func (s roomService) WatchRoom(ctx context.Context, req *sensoctov1.WatchRoomRequest, stream *connect.ServerStream[sensoctov1.WatchRoomResponse]) error {
	st, err := s.h.AttachState(ctx, req.GetRoomId(), tabOf(ctx))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := stream.Send(&sensoctov1.WatchRoomResponse{Kind: sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SNAPSHOT}); err != nil {
		return err
	}
	return st.Forward(ctx, stream.Send)
}

type tabKey struct{}

func tabOf(ctx context.Context) string { s, _ := ctx.Value(tabKey{}).(string); return s }

// testTabHeader names the tab of a WatchRoom stream in these tests (WatchRoomRequest's
// tab id in package roomsrpc).
const testTabHeader = "X-Test-Tab"

// testUserHeader names the user of a request in these tests (the real server resolves
// a session instead).
const testUserHeader = "X-Test-User"

type env struct {
	t                 testing.TB
	url               string
	db                *database.DB
	docs              *roomdoc.Manager
	room              uuid.UUID
	owner, alice, bob uuid.UUID
	outsider          uuid.UUID
}

func newEnv(t testing.TB, dialect string) *env {
	t.Helper()
	db := dbtest.Open(t, dialect)
	ctx := t.Context()
	e := &env{t: t, db: db}
	mk := func(name string) uuid.UUID {
		u, err := db.Client.User.Create().SetDisplayName(name).Save(ctx)
		if err != nil {
			t.Fatalf("create user: %v", err)
		}
		return u.ID
	}
	e.owner, e.alice, e.bob, e.outsider = mk("Owner"), mk("Alice"), mk("Bob"), mk("Outsider")
	rm, err := db.Client.Room.Create().SetName("Interop").SetOwnerID(e.owner).
		SetFeatures(schematype.RoomFeatures{MediaPlayback: true, Object3D: true, Whiteboard: true}).Save(ctx)
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	e.room = rm.ID
	for u, role := range map[uuid.UUID]roommembership.Role{e.owner: roommembership.RoleOwner, e.alice: roommembership.RoleMember, e.bob: roommembership.RoleMember} {
		if err := db.Client.RoomMembership.Create().SetRoomID(rm.ID).SetUserID(u).SetRole(role).Exec(ctx); err != nil {
			t.Fatalf("create membership: %v", err)
		}
	}
	e.docs = roomdoc.New(roomdoc.Options{Ent: db.Client, Logger: dbtest.Logger(t)})
	opts, err := rpc.HandlerOptions(dbtest.Logger(t), nil, auth.NewInterceptor())
	if err != nil {
		t.Fatalf("handler options: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(sensoctov1connect.NewRoomServiceHandler(roomService{h: roomdocrpc.New(e.docs)}, opts...))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, err := uuid.Parse(r.Header.Get(testUserHeader)); err == nil {
			r = r.WithContext(authz.WithViewer(r.Context(), authz.Viewer{UserID: id, Kind: authz.KindSession, Scope: authz.ScopeFull}))
		}
		r = r.WithContext(context.WithValue(r.Context(), tabKey{}, r.Header.Get(testTabHeader)))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) client(user uuid.UUID) sensoctov1connect.RoomServiceClient {
	return e.clientWithTab(user, "")
}

func (e *env) clientWithTab(user uuid.UUID, tab string) sensoctov1connect.RoomServiceClient {
	return sensoctov1connect.NewRoomServiceClient(http.DefaultClient, e.url, connect.WithInterceptors(testHeaders{user: user, tab: tab}))
}

// testHeaders sets the test user and tab headers on every call.
type testHeaders struct {
	user uuid.UUID
	tab  string
}

func (h testHeaders) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set(testUserHeader, h.user.String())
		return next(ctx, req)
	}
}

func (h testHeaders) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, s connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, s)
		conn.RequestHeader().Set(testUserHeader, h.user.String())
		conn.RequestHeader().Set(testTabHeader, h.tab)
		return conn
	}
}

func (h testHeaders) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// goPeer is a Go client of the API.
type goPeer struct {
	t   testing.TB
	e   *env
	c   sensoctov1connect.RoomServiceClient
	id  string
	doc *automerge.Doc
	ss  *automerge.SyncState
}

func (e *env) peer(user uuid.UUID) *goPeer {
	doc := automerge.New()
	return &goPeer{t: e.t, e: e, c: e.client(user), id: "go-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], doc: doc, ss: automerge.NewSyncState(doc)}
}

func (p *goPeer) sync() error {
	for range 50 {
		var out []byte
		if m, ok := p.ss.GenerateMessage(); ok {
			out = m.Bytes()
		}
		res, err := p.c.SyncRoomState(p.t.Context(), &sensoctov1.SyncRoomStateRequest{RoomId: p.e.room.String(), PeerId: p.id, SyncMessage: out})
		if err != nil {
			return err
		}
		if in := res.GetSyncMessage(); len(in) > 0 {
			if _, err := p.ss.ReceiveMessage(in); err != nil {
				return err
			}
		}
		if out == nil && len(res.GetSyncMessage()) == 0 {
			return nil
		}
	}
	return errors.New("sync did not settle")
}

func (p *goPeer) mustSync() {
	p.t.Helper()
	if err := p.sync(); err != nil {
		p.t.Fatalf("sync: %v", err)
	}
}

func codeOf(err error) connect.Code { return connect.CodeOf(err) }

func TestSyncRoomStateOverTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	alice, bob := e.peer(e.alice), e.peer(e.bob)
	alice.mustSync()

	// Bob watches the room with his peer id: Alice's change arrives as a STATE event.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := e.clientWithTab(e.bob, bob.id).WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: e.room.String()})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	got := make(chan string, 16)
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		for stream.Receive() {
			msg := stream.Msg()
			if msg.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_STATE {
				continue
			}
			if _, err := bob.ss.ReceiveMessage(msg.GetSyncMessage()); err != nil {
				t.Errorf("bob receive: %v", err)
				return
			}
			if err := bob.sync(); err != nil {
				if ctx.Err() == nil {
					t.Errorf("bob answer: %v", err)
				}
				return
			}
			if v, err := bob.doc.Path("notes").Text().Get(); err == nil {
				select {
				case got <- v:
				default:
				}
			}
		}
	}()
	if err := alice.doc.Path("notes").Text().Insert(0, "over the API"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.doc.Commit("type"); err != nil {
		t.Fatal(err)
	}
	alice.mustSync()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-got:
			if v == "over the API" {
				return
			}
		case <-deadline:
			t.Fatalf("bob never saw alice's notes")
		}
	}
}

func TestSyncRoomStateRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	ctx := t.Context()
	c := e.client(e.alice)
	// Request validation: peer id, room id, message size.
	for _, req := range []*sensoctov1.SyncRoomStateRequest{
		{RoomId: e.room.String(), PeerId: "short"},
		{RoomId: "not-a-uuid", PeerId: "peer-0123456789"},
		{RoomId: e.room.String(), PeerId: "peer-0123456789", SyncMessage: make([]byte, 1<<20+1)},
	} {
		if _, err := c.SyncRoomState(ctx, req); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("request %v: got %v, want invalid_argument", req.GetPeerId(), err)
		}
	}
	// A malformed message.
	_, err := c.SyncRoomState(ctx, &sensoctov1.SyncRoomStateRequest{RoomId: e.room.String(), PeerId: "peer-0123456789", SyncMessage: []byte("garbage")})
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "sync_message") {
		t.Errorf("malformed message: got %v, want invalid_argument naming sync_message", err)
	}
	// A non-member and an unknown room look the same.
	for _, room := range []string{e.room.String(), uuid.NewString()} {
		_, err := e.client(e.outsider).SyncRoomState(ctx, &sensoctov1.SyncRoomStateRequest{RoomId: room, PeerId: "peer-0123456789"})
		if codeOf(err) != connect.CodeNotFound {
			t.Errorf("outsider: got %v, want not_found", err)
		}
	}
	// Without a viewer.
	anon := sensoctov1connect.NewRoomServiceClient(http.DefaultClient, e.url)
	if _, err := anon.SyncRoomState(ctx, &sensoctov1.SyncRoomStateRequest{RoomId: e.room.String(), PeerId: "peer-0123456789"}); codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("anonymous: got %v, want unauthenticated", err)
	}
	// A change the peer may not make.
	alice, bob := e.peer(e.alice), e.peer(e.bob)
	alice.mustSync()
	bob.mustSync()
	if err := alice.doc.Path("media", "controller").Set(e.alice.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.doc.Commit("take"); err != nil {
		t.Fatal(err)
	}
	alice.mustSync()
	bob.mustSync()
	if err := bob.doc.Path("media", "playing").Set(true); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.doc.Commit("play"); err != nil {
		t.Fatal(err)
	}
	if err := bob.sync(); codeOf(err) != connect.CodePermissionDenied {
		t.Errorf("non-controller play: got %v, want permission_denied", err)
	}
}

// frontendDir is the web app's directory, whose node_modules hold @automerge/automerge
// and the Connect client the generated TS code uses.
func frontendDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "frontend"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@automerge", "automerge")); err != nil {
		if dbtest.InCI() {
			t.Fatalf("frontend/node_modules lacks @automerge/automerge (run npm ci in frontend): %v", err)
		}
		t.Skipf("frontend/node_modules lacks @automerge/automerge; run 'go tool task deps:web' first")
	}
	return dir
}

// runInterop runs one phase of frontend/interop/roomdoc.interop.ts in Node.
func (e *env) runInterop(t *testing.T, dir, phase string, user uuid.UUID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", "vitest", "run", "--config", "vitest.interop.config.ts") //nolint:gosec // fixed command line
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SENSOCTO_INTEROP_URL="+e.url,
		"SENSOCTO_INTEROP_ROOM="+e.room.String(),
		"SENSOCTO_INTEROP_USER="+user.String(),
		"SENSOCTO_INTEROP_PHASE="+phase,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node interop phase %s: %v\n%s", phase, err, out)
	}
	t.Logf("node interop phase %s:\n%s", phase, out)
}

// TestInteropWithAutomergeJS has a Node process with @automerge/automerge 3.x sync with
// the server through the generated TS client: it writes notes (Text), a media state of
// scalar strings and a stroke, is refused when it writes a plain JS string (Text) where
// the schema wants a scalar string, and then reads what a Go peer wrote.
func TestInteropWithAutomergeJS(t *testing.T) {
	dir := frontendDir(t)
	e := newEnv(t, "sqlite")
	e.runInterop(t, dir, "write", e.alice)

	goPeer := e.peer(e.bob)
	goPeer.mustSync()
	notes, err := goPeer.doc.Path("notes").Text().Get()
	if err != nil || !strings.Contains(notes, "Node was here.") {
		t.Fatalf("Go peer reads notes %q (%v), want Node's text", notes, err)
	}
	src, err := goPeer.doc.Path("media", "source").Get()
	if err != nil || src.Kind() != automerge.KindStr || src.Str() != "/media/clip.webm" {
		t.Fatalf("media.source from JS = %#v (%v), want the scalar string /media/clip.webm", src, err)
	}
	if ctl, _ := goPeer.doc.Path("media", "controller").Get(); ctl == nil || ctl.Kind() != automerge.KindStr || ctl.Str() != e.alice.String() {
		t.Fatalf("media.controller from JS = %#v", ctl)
	}
	if n := goPeer.doc.Path("whiteboard", "strokes").List().Len(); n != 1 {
		t.Fatalf("strokes from JS = %d, want 1", n)
	}
	// The Go peer answers: notes text and an annotation of its own.
	if err := goPeer.doc.Path("notes").Text().Append(" Go says hi."); err != nil {
		t.Fatal(err)
	}
	if err := goPeer.doc.Path("annotations").List().Append(map[string]any{
		"id": "go-1", "author": e.bob.String(), "sensorId": "hr-1", "attributeId": "heart_rate",
		"from": int64(1764590000000), "to": int64(1764590060000), "text": "spike",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := goPeer.doc.Commit("go answers"); err != nil {
		t.Fatal(err)
	}
	goPeer.mustSync()
	e.runInterop(t, dir, "read", e.alice)
}
