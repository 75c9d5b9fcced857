package roomdocrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent/roommembership"
	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// fanOutProbe records, for one edit at a time, when each member's document first
// contains the edit's marker.
type fanOutProbe struct {
	mu        sync.Mutex
	marker    string
	t0        time.Time
	seen      []bool
	remaining int
	done      chan struct{}
	lat       []time.Duration
}

// arm starts an edit: every member but the editor has to see marker.
func (p *fanOutProbe) arm(marker string, editor, members int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker, p.t0 = marker, time.Now()
	p.seen = make([]bool, members)
	p.seen[editor] = true
	p.remaining = members - 1
	p.done = make(chan struct{})
	return p.done
}

func (p *fanOutProbe) report(member int, notes string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marker == "" || p.seen[member] || !strings.Contains(notes, p.marker) {
		return
	}
	p.seen[member] = true
	p.lat = append(p.lat, time.Since(p.t0))
	if p.remaining--; p.remaining == 0 {
		close(p.done)
	}
}

// BenchmarkNotesFanOut50OverTheAPI measures "change → other member's screen" with 50
// members in one room over HTTP (httptest, the Connect handler, the roomdoc manager on
// SQLite): each member is an automerge-go peer with a WatchRoom stream that applies
// every STATE event and answers with SyncRoomState while it has something to send (as
// frontend/src/lib/roomdoc/sync.ts does). Member 0 edits the notes once per iteration;
// for each of the 49 others the benchmark takes the time from just before the editor's
// SyncRoomState call to the moment that member's document contains the edit (where the
// SPA redraws), and reports the p50 and p99 over all of them with the load average:
//
//	go test -run '^$' -bench BenchmarkNotesFanOut50OverTheAPI -benchtime 300x ./server/internal/roomdocrpc/
func BenchmarkNotesFanOut50OverTheAPI(b *testing.B) {
	const members = 50
	e := newEnv(b, "sqlite")
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	// One connection per stream plus the unary calls: keep them all alive.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4 * members, MaxIdleConnsPerHost: 4 * members}}
	defer hc.CloseIdleConnections()

	type member struct {
		mu   sync.Mutex
		p    *goPeer
		user uuid.UUID
	}
	ms := make([]*member, members)
	for i := range ms {
		u, err := e.db.Client.User.Create().SetDisplayName(fmt.Sprintf("Member %d", i)).Save(ctx)
		if err != nil {
			b.Fatalf("create user: %v", err)
		}
		if err := e.db.Client.RoomMembership.Create().SetRoomID(e.room).SetUserID(u.ID).SetRole(roommembership.RoleMember).Exec(ctx); err != nil {
			b.Fatalf("create membership: %v", err)
		}
		p := e.peer(u.ID)
		p.c = sensoctov1connect.NewRoomServiceClient(hc, e.url, connect.WithInterceptors(testHeaders{user: u.ID}))
		if err := spaFlush(ctx, p); err != nil {
			b.Fatalf("first sync: %v", err)
		}
		ms[i] = &member{p: p, user: u.ID}
	}

	probe := &fanOutProbe{}
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i, m := range ms {
		stream, err := sensoctov1connect.NewRoomServiceClient(hc, e.url, connect.WithInterceptors(testHeaders{user: m.user, tab: m.p.id})).
			WatchRoom(ctx, &sensoctov1.WatchRoomRequest{RoomId: e.room.String()})
		if err != nil {
			b.Fatalf("watch: %v", err)
		}
		attached := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stream.Close()
			first := true
			for stream.Receive() {
				msg := stream.Msg()
				if first {
					first = false
					close(attached)
				}
				if msg.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_STATE {
					continue
				}
				// As SyncPeer.receive in frontend/src/lib/roomdoc/sync.ts: apply the
				// message (the screen shows the document then), then answer.
				m.mu.Lock()
				_, err := m.p.ss.ReceiveMessage(msg.GetSyncMessage())
				if err == nil {
					notes, _ := m.p.doc.Path("notes").Text().Get()
					probe.report(i, notes)
					err = spaFlush(ctx, m.p)
				}
				m.mu.Unlock()
				if err != nil {
					if ctx.Err() == nil {
						b.Errorf("member %d: %v", i, err)
					}
					return
				}
			}
		}()
		select {
		case <-attached:
		case <-time.After(30 * time.Second):
			b.Fatalf("member %d: WatchRoom sent nothing", i)
		}
	}

	editor := ms[0]
	b.ResetTimer()
	for n := range b.N {
		marker := fmt.Sprintf(" e%d;", n)
		editor.mu.Lock()
		text := editor.p.doc.Path("notes").Text()
		err := text.Insert(text.Len(), marker)
		if err == nil {
			_, err = editor.p.doc.Commit("type")
		}
		if err != nil {
			editor.mu.Unlock()
			b.Fatal(err)
		}
		done := probe.arm(marker, 0, members)
		err = spaFlush(ctx, editor.p)
		editor.mu.Unlock()
		if err != nil {
			b.Fatalf("editor sync: %v", err)
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("edit %d: not every member saw it within 60 s", n)
		}
	}
	b.StopTimer()

	probe.mu.Lock()
	lat := slices.Clone(probe.lat)
	probe.mu.Unlock()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "samples")
	// The one-minute load average at the end (Linux), since the figures depend on it.
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(load)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				b.ReportMetric(v, "load1")
			}
		}
	}
}

// spaFlush sends the peer's sync messages as SyncPeer.run in
// frontend/src/lib/roomdoc/sync.ts does: while Automerge has a message to send, send it
// and apply the answer; no call when there is nothing to say.
func spaFlush(ctx context.Context, p *goPeer) error {
	for range 100 {
		m, ok := p.ss.GenerateMessage()
		if !ok {
			return nil
		}
		res, err := p.c.SyncRoomState(ctx, &sensoctov1.SyncRoomStateRequest{RoomId: p.e.room.String(), PeerId: p.id, SyncMessage: m.Bytes()})
		if err != nil {
			return err
		}
		if in := res.GetSyncMessage(); len(in) > 0 {
			if _, err := p.ss.ReceiveMessage(in); err != nil {
				return err
			}
		}
	}
	return errors.New("sync did not settle in 100 rounds")
}
