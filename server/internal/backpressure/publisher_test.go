package backpressure

import (
	"sync"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond) // every computation gets a new timestamp
	return c.t
}

func recv(t *testing.T, s *Subscription) (Config, bool) {
	t.Helper()
	select {
	case c := <-s.C():
		return c, true
	default:
		return Config{}, false
	}
}

func TestPublisherPushesOnlyChanges(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(100, 0)}
	p := NewPublisher(clk.now)
	sub := p.Subscribe("s1")
	defer sub.Close()
	other := p.Subscribe("s2")
	defer other.Close()

	first, ok := recv(t, sub)
	if !ok || first.AttentionLevel != attention.LevelNone || first.RecommendedBatchWindowMS != 5000 {
		t.Fatalf("first config = %+v, %v; want the current NONE config", first, ok)
	}
	recv(t, other)

	steps := []struct {
		name   string
		do     func()
		want   bool
		window uint32
	}{
		{"same attention again", func() { p.SetAttention("s1", attention.LevelNone) }, false, 0},
		{"focus", func() { p.SetAttention("s1", attention.LevelHigh) }, true, 100},
		{"same load", func() { p.SetLoad(loadmon.LevelNormal, false) }, false, 0},
		{"elevated load", func() { p.SetLoad(loadmon.LevelElevated, false) }, true, 150},
		{"memory protection", func() { p.SetLoad(loadmon.LevelElevated, true) }, true, 750},
		{"battery unknown→charging full", func() { p.SetSensorBattery("s1", Battery{Known: true, Level: 1, Charging: true}) }, false, 0},
		{"battery low", func() { p.SetSensorBattery("s1", Battery{Known: true, Level: 0.15}) }, true, 1500},
		{"other sensor changes", func() { p.SetAttention("s2", attention.LevelMedium) }, false, 0},
	}
	for _, st := range steps {
		st.do()
		got, ok := recv(t, sub)
		if ok != st.want {
			t.Fatalf("%s: pushed=%v (%+v), want pushed=%v", st.name, ok, got, st.want)
		}
		if ok && got.RecommendedBatchWindowMS != st.window {
			t.Fatalf("%s: window %d, want %d", st.name, got.RecommendedBatchWindowMS, st.window)
		}
	}
	if c := p.Current("s1"); c.RecommendedBatchWindowMS != 1500 || !c.MemoryProtectionActive {
		t.Errorf("Current = %+v", c)
	}
}

func TestPublisherMailboxKeepsLatest(t *testing.T) {
	t.Parallel()
	p := NewPublisher(nil)
	sub := p.Subscribe("s")
	defer sub.Close()
	// Nobody reads: the publisher must not block, and the reader sees only the latest.
	for i := 0; i < 100; i++ {
		p.SetAttention("s", attention.Level(i%4))
	}
	p.SetAttention("s", attention.LevelMedium)
	got, ok := recv(t, sub)
	if !ok || got.AttentionLevel != attention.LevelMedium {
		t.Fatalf("got %+v, %v; want the latest (MEDIUM)", got, ok)
	}
	if _, ok := recv(t, sub); ok {
		t.Fatal("mailbox held more than one config")
	}
}

func TestPublisherCloseAndForget(t *testing.T) {
	t.Parallel()
	p := NewPublisher(nil)
	a := p.Subscribe("s")
	b := p.Subscribe("s")
	if n := p.Subscribers("s"); n != 2 {
		t.Fatalf("Subscribers = %d", n)
	}
	a.Close()
	a.Close()
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	p.Forget("s")
	select {
	case <-b.Done():
	default:
		t.Fatal("Forget did not end the subscription")
	}
	b.Close()
	if n := p.Subscribers("s"); n != 0 {
		t.Fatalf("Subscribers after Forget = %d", n)
	}
}

func TestPublisherConcurrent(t *testing.T) {
	t.Parallel()
	p := NewPublisher(nil)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Go(func() {
			sub := p.Subscribe("s")
			defer sub.Close()
			for j := 0; j < 200; j++ {
				p.SetAttention("s", attention.Level(j%4))
				p.SetLoad(loadmon.Level(j%4), j%2 == 0)
				select {
				case <-sub.C():
				default:
				}
			}
		})
	}
	wg.Wait()
}

// TestOnChangeSeesEveryNewConfig: the observer gets each sensor's config when its
// advice changed, with or without subscribers, and nothing when it did not.
func TestOnChangeSeesEveryNewConfig(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(100, 0)}
	p := NewPublisher(clk.now)
	type seen struct {
		id     string
		window uint32
	}
	var got []seen
	p.OnChange(func(id string, c Config) { got = append(got, seen{id, c.RecommendedBatchWindowMS}) })
	sub := p.Subscribe("watched")
	defer sub.Close()
	p.SetAttention("watched", attention.LevelHigh)
	p.SetAttention("watched", attention.LevelHigh) // no change
	p.SetAttention("alone", attention.LevelMedium)
	p.SetLoad(loadmon.LevelElevated, false) // both sensors change
	want := []seen{{"watched", 100}, {"alone", 500}}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("observed %v, want %v then both sensors at elevated load", got, want)
	}
	rest := map[seen]bool{got[2]: true, got[3]: true}
	if !rest[seen{"watched", 150}] || !rest[seen{"alone", 750}] {
		t.Fatalf("at elevated load observed %v, want watched 150 ms and alone 750 ms", got[2:])
	}
}
