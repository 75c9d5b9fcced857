package live

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestHistoryAskAnswer: a node asks the node that holds a sensor for its window over
// the bus, and gets every point, also when the answer takes several messages; once the
// holder stops holding the sensor nobody is asked.
func TestHistoryAskAnswer(t *testing.T) {
	t.Parallel()
	network := bus.NewNetwork()
	busA, _ := network.Join("a")
	busB, _ := network.Join("b")
	t.Cleanup(func() { _ = busA.Close(); _ = busB.Close() })
	h := hub.New(hub.Options{})
	if _, err := h.Register("s", nil); err != nil {
		t.Fatal(err)
	}
	// 500 texts of 4000 bytes: about 2 MB, three messages of at most maxMessageBytes.
	b := &hub.Batch{}
	for i := range 500 {
		b.Measurements = append(b.Measurements, hub.Measurement{AttributeID: "note", TimeUS: 1_700_000_000_000_000 + int64(i)*1000,
			Value: hub.Text(strings.Repeat(string(rune('a'+i%26)), 4000))})
	}
	if _, err := h.Ingest("s", b); err != nil {
		t.Fatal(err)
	}
	want, typ, err := h.History("s", "note", 0, 0, 0)
	if err != nil || len(want) < 400 {
		t.Fatalf("hub history: %d points, %v", len(want), err)
	}

	holder := &remote{bus: busA, hub: h, log: zerolog.Nop()}
	holder.hist.asks = map[uint64]*pendingAsk{}
	asker := &remote{bus: busB, hub: hub.New(hub.Options{}), log: zerolog.Nop()}
	asker.hist.asks = map[uint64]*pendingAsk{}
	answers, err := busB.Subscribe(bus.KindHistoryAnswer, "node:b", bus.MaxQueue)
	if err != nil {
		t.Fatal(err)
	}
	asker.hist.answers = answers
	probe, err := busB.Subscribe(bus.KindHistoryAnswer, "node:b", bus.MaxQueue) // counts the messages
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = asker.collectAnswers(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	req := sensors.HistoryRequest{SensorID: "s", AttributeID: "note"}
	if busB.Interested(bus.KindHistoryAsk, "s") {
		t.Fatal("a sensor nobody ingests is asked for")
	}
	holder.hold("s")
	testkit.WaitFor(t, "b to see a hold the sensor", func() bool { return busB.Interested(bus.KindHistoryAsk, "s") })
	w, ok := asker.askHistory(t.Context(), req)
	if !ok {
		t.Fatal("no answer")
	}
	if w.Type != typ || len(w.Points) != len(want) || w.Span.FirstUS != want[0].TimeUS || w.Span.LastUS != want[len(want)-1].TimeUS {
		t.Fatalf("answer: type %q, %d points, span %+v; want %q, %d points", w.Type, len(w.Points), w.Span, typ, len(want))
	}
	testkit.WaitFor(t, "the answer in at least 3 messages (about 2 MB)", func() bool { return len(probe.C()) >= 3 })
	for i := range want {
		if w.Points[i].TimeUS != want[i].TimeUS || w.Points[i].Value.Ext.Text != want[i].Value.Ext.Text {
			t.Fatalf("point %d differs", i)
		}
	}
	if holder.hist.served.Load() != 1 || asker.hist.asked.Load() != 1 || asker.hist.unanswered.Load() != 0 {
		t.Fatalf("served %d, asked %d, unanswered %d", holder.hist.served.Load(), asker.hist.asked.Load(), asker.hist.unanswered.Load())
	}
	// An unknown attribute: answered as not found, and the asker falls back.
	if _, ok := asker.askHistory(t.Context(), sensors.HistoryRequest{SensorID: "s", AttributeID: "other"}); ok {
		t.Fatal("an attribute the holder does not have answered as a window")
	}
	// A holder that does not answer: the ask ends after HistoryTimeout, counted.
	mute, err := busA.Subscribe(bus.KindHistoryAsk, "mute", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	testkit.WaitFor(t, "b to see the mute holder", func() bool { return busB.Interested(bus.KindHistoryAsk, "mute") })
	if _, ok := asker.askHistory(t.Context(), sensors.HistoryRequest{SensorID: "mute", AttributeID: "note"}); ok || asker.hist.unanswered.Load() != 2 {
		t.Fatalf("an unanswered ask: ok %v, unanswered %d, want false and 2", ok, asker.hist.unanswered.Load())
	}
	holder.unhold("s")
	testkit.WaitFor(t, "b to see a stop holding the sensor", func() bool { return !busB.Interested(bus.KindHistoryAsk, "s") })
	asker.hist.askMu.Lock()
	defer asker.hist.askMu.Unlock()
	if len(asker.hist.asks) != 0 {
		t.Fatalf("%d asks left pending", len(asker.hist.asks))
	}
}
