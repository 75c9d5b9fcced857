package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
	"github.com/sensocto/sensocto/server/internal/live/livetest"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// countingBus counts what the live path asks of its bus.
type countingBus struct {
	bus.Bus
	asked, published atomic.Int64
}

func (c *countingBus) Interested(k bus.Kind, key string) bool {
	c.asked.Add(1)
	return c.Bus.Interested(k, key)
}

func (c *countingBus) Publish(m bus.Message) error {
	c.published.Add(1)
	return c.Bus.Publish(m)
}

// exercise makes every kind of event the live path forwards: a registration, a
// connector session (connected, disconnected), a focus (attention change and a HIGH
// back-pressure config).
func exercise(t *testing.T, env *livetest.Env) string {
	t.Helper()
	owner := env.User(t, "owner")
	sn, _, err := env.Live.Register(t.Context(), owner, sensors.RegisterInput{ID: "hr-1", Name: "HR"})
	if err != nil {
		t.Fatal(err)
	}
	detach := env.Sensors.Attach(sn.ID)
	detach()
	if _, err := env.Live.ReportAttention(t.Context(), owner, "tab", []attention.Event{{SensorID: sn.ID, Kind: attention.Focus}}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the HIGH config", func() bool { return env.Publisher.Current(sn.ID).AttentionLevel == attention.LevelHigh })
	return sn.ID
}

// TestSingleNodePublishesNothing: on a bus of one node the live path asks the bus
// before every message and publishes none.
func TestSingleNodePublishesNothing(t *testing.T) {
	t.Parallel()
	only, err := bus.NewLocal("only")
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	b := &countingBus{Bus: only}
	env := livetest.New(t, database.DialectSQLite, livetest.Options{Bus: b})
	exercise(t, env)
	if b.asked.Load() == 0 {
		t.Fatal("the live path never asked the bus for interest")
	}
	if n := b.published.Load(); n != 0 {
		t.Fatalf("published %d messages on a single node", n)
	}
}

// TestRemoteNodeReceives: another node that follows sensor events, attention and
// back-pressure configs gets each, in order per sensor.
func TestRemoteNodeReceives(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			network := bus.NewNetwork()
			a, _ := network.Join("a")
			b, _ := network.Join("b")
			t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
			subs := map[bus.Kind]bus.Subscription{}
			for _, k := range []bus.Kind{bus.KindSensorEvents, bus.KindAttention, bus.KindBackpressure} {
				s, err := b.Subscribe(k, "", 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				subs[k] = s
			}
			env := livetest.New(t, dialect, livetest.Options{Bus: a})
			id := exercise(t, env)

			var kinds []string
			testkit.WaitFor(t, "registered, connected, disconnected and attention events", func() bool {
				for {
					select {
					case m := <-subs[bus.KindSensorEvents].C():
						var ev live.SensorEventMessage
						if err := json.Unmarshal(m.Data, &ev); err != nil || m.Key != id || m.Origin != "a" || ev.AtUS == 0 {
							t.Fatalf("sensor event %+v (%v)", m, err)
						}
						kinds = append(kinds, ev.Kind)
						continue
					default:
					}
					return len(kinds) >= 4
				}
			})
			if want := []string{"registered", "connected", "disconnected", "attention"}; !equal(kinds, want) {
				t.Fatalf("sensor events %v, want %v", kinds, want)
			}
			var att live.AttentionMessage
			testkit.WaitFor(t, "the attention change to HIGH", func() bool {
				select {
				case m := <-subs[bus.KindAttention].C():
					if err := json.Unmarshal(m.Data, &att); err != nil || m.Key != id {
						t.Fatalf("attention %+v (%v)", m, err)
					}
				default:
				}
				return att.Level == attention.LevelHigh
			})
			if att.Previous != attention.LevelNone || len(att.Attributes) != 1 || att.Attributes[0].Focused != 1 {
				t.Fatalf("attention message %+v, want HIGH from NONE with one focused whole-sensor item", att)
			}
			var cfg backpressure.Config
			testkit.WaitFor(t, "the HIGH config", func() bool {
				select {
				case m := <-subs[bus.KindBackpressure].C():
					var bm live.BackpressureMessage
					if err := json.Unmarshal(m.Data, &bm); err != nil || m.Key != id {
						t.Fatalf("back-pressure %+v (%v)", m, err)
					}
					cfg = bm.Config()
				default:
				}
				return cfg.AttentionLevel == attention.LevelHigh
			})
			if want := env.Publisher.Current(id); !cfg.Equal(want) {
				t.Fatalf("config on the bus %+v, want the publisher's %+v", cfg, want)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fakeConn is a connector session's transport fed by a test.
type fakeConn struct {
	in      chan live.StreamBatch
	abort   chan struct{}
	once    sync.Once
	mu      sync.Mutex
	configs []backpressure.Config
	acks    []live.Ack
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan live.StreamBatch, 16), abort: make(chan struct{})}
}

var errAborted = errors.New("aborted")

func (c *fakeConn) Receive() (live.StreamBatch, error) {
	select {
	case <-c.abort:
		return nil, errAborted
	default:
	}
	select {
	case b, ok := <-c.in:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-c.abort:
		return nil, errAborted
	}
}

func (c *fakeConn) Abort() { c.once.Do(func() { close(c.abort) }) }

func (c *fakeConn) SendConfig(cfg backpressure.Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configs = append(c.configs, cfg)
	return nil
}

func (c *fakeConn) SendAck(a live.Ack) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acks = append(c.acks, a)
	return nil
}

func (c *fakeConn) lastAck() (live.Ack, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.acks) == 0 {
		return live.Ack{}, 0
	}
	return c.acks[len(c.acks)-1], len(c.acks)
}

// batch is a StreamBatch of n numbers.
type batch struct {
	id  string
	seq uint64
	n   int
}

func (b batch) SensorID() string { return b.id }
func (b batch) Sequence() uint64 { return b.seq }
func (b batch) Decode(hb *hub.Batch) error {
	for i := range b.n {
		hb.Measurements = append(hb.Measurements, hub.Measurement{AttributeID: "hr", Value: hub.Number(float64(60 + i))})
	}
	return nil
}

func TestConnectorSession(t *testing.T) {
	t.Parallel()
	env := livetest.New(t, database.DialectSQLite, livetest.Options{})
	owner := env.User(t, "owner")
	if _, _, err := env.Live.Register(t.Context(), owner, sensors.RegisterInput{ID: "hr-1"}); err != nil {
		t.Fatal(err)
	}

	t.Run("acks coalesced, EOF ends it", func(t *testing.T) {
		conn := newFakeConn()
		for i := 1; i <= 5; i++ {
			conn.in <- batch{"hr-1", uint64(i), 2}
		}
		close(conn.in)
		if err := env.Live.RunConnector(t.Context(), &owner, conn); err != nil {
			t.Fatalf("session: %v", err)
		}
		ack, n := conn.lastAck()
		if ack.Sequence != 5 || ack.TotalAccepted != 10 || n > 2 {
			t.Fatalf("last of %d acks %+v, want sequence 5 and 10 values in at most two acks", n, ack)
		}
		if len(conn.configs) == 0 {
			t.Fatal("no back-pressure config sent")
		}
	})
	t.Run("another sensor in a later batch", func(t *testing.T) {
		conn := newFakeConn()
		conn.in <- batch{"hr-1", 1, 1}
		conn.in <- batch{"hr-2", 2, 1}
		err := env.Live.RunConnector(t.Context(), &owner, conn)
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindInvalidArgument || e.Violations[0].Field != "sensor_id" {
			t.Fatalf("session: %v, want InvalidArgument naming sensor_id", err)
		}
		if ack, _ := conn.lastAck(); ack.Sequence != 1 || ack.TotalAccepted != 1 {
			t.Fatalf("ack %+v, want the first batch acked before the refusal", ack)
		}
	})
	t.Run("bad sensor id", func(t *testing.T) {
		conn := newFakeConn()
		conn.in <- batch{"no spaces", 1, 1}
		if err := env.Live.RunConnector(t.Context(), &owner, conn); apperr.KindOf(err) != apperr.KindInvalidArgument {
			t.Fatalf("session: %v, want InvalidArgument", err)
		}
	})
	t.Run("someone else's sensor", func(t *testing.T) {
		conn := newFakeConn()
		conn.in <- batch{"hr-1", 1, 1}
		err := env.Live.RunConnector(t.Context(), new(env.User(t, "other")), conn)
		if k := apperr.KindOf(err); k != apperr.KindPermissionDenied && k != apperr.KindNotFound {
			t.Fatalf("session: %v, want a refusal", err)
		}
	})
	t.Run("deleted sensor ends it", func(t *testing.T) {
		if _, _, err := env.Live.Register(t.Context(), owner, sensors.RegisterInput{ID: "gone"}); err != nil {
			t.Fatal(err)
		}
		conn := newFakeConn()
		conn.in <- batch{"gone", 1, 1}
		done := make(chan error, 1)
		go func() { done <- env.Live.RunConnector(t.Context(), &owner, conn) }()
		testkit.WaitFor(t, "the session to start", func() bool { _, n := conn.lastAck(); return n > 0 })
		if err := env.Sensors.Delete(t.Context(), owner, "gone"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !apperr.IsNotFound(err) {
				t.Fatalf("session: %v, want NotFound", err)
			}
		case <-time.After(testkit.Deadline):
			t.Fatal("the session outlived its sensor")
		}
		close(conn.in)
	})
	t.Run("context ends it", func(t *testing.T) {
		conn := newFakeConn()
		conn.in <- batch{"hr-1", 1, 1}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- env.Live.RunConnector(ctx, &owner, conn) }()
		testkit.WaitFor(t, "the session to start", func() bool { _, n := conn.lastAck(); return n > 0 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("session: %v, want nil when its context ends", err)
		}
		close(conn.in)
	})
}
