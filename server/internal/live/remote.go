package live

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/loadmon"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// remote publishes what of the live path must cross nodes, while another node is
// interested: on a single node Interested is false and nothing is encoded. The local
// path never goes through it (the hub, the tracker and the publisher deliver to this
// node's sessions directly). Payloads are JSON: these messages are rare (a change of
// state, not a measurement), and readable on the wire.
type remote struct {
	bus bus.Bus
	// solo: the bus of a single server (bus.IsSolo), where nothing is followed.
	solo    bool
	hub     *hub.Hub
	sensors *sensors.Service
	log     zerolog.Logger

	// bufs are encoding buffers of measurements messages.
	bufs sync.Pool
	// follows are the sensors this node's watchers follow on other nodes.
	mu      sync.Mutex
	follows map[string]*follow

	batchesIn, batchesOut, rejected, unsent atomic.Uint64

	// attMu guards the attention followed on other nodes and this node's own
	// (remoteattention.go), and orders the levels given to the publisher.
	attMu        sync.Mutex
	attFollows   map[string]*attentionFollow
	ownAttention map[string]attention.SensorAttention

	// sessMu guards the connector sessions of this node (sessionmove.go).
	sessMu   sync.Mutex
	sessions map[string]*sessionFollow

	// hist answers and asks for in-memory history across nodes (history.go).
	hist historyState
}

// follow is one sensor's data and events from other nodes, while this node watches it.
type follow struct {
	refs         int
	data, events bus.Subscription
}

// RemoteStats count what of the live path crossed nodes since the start.
type RemoteStats struct {
	// BatchesOut are measurements messages published, BatchesIn received and applied.
	BatchesOut, BatchesIn uint64
	// Rejected are received messages that did not decode or that this node's hub
	// refused; Unsent messages that could not be published. (What a full queue drops
	// is the bus's count.)
	Rejected, Unsent uint64
	// HistoryAsked are history asks sent to the node ingesting a sensor (history.go),
	// HistoryUnanswered those that fell back to this node's window, HistoryServed the
	// asks of other nodes this node answered.
	HistoryAsked, HistoryUnanswered, HistoryServed uint64
}

// RemoteStats returns the counts of the cross-node live path.
func (s *Service) RemoteStats() RemoteStats {
	r := &s.remote
	return RemoteStats{
		BatchesOut: r.batchesOut.Load(), BatchesIn: r.batchesIn.Load(), Rejected: r.rejected.Load(), Unsent: r.unsent.Load(),
		HistoryAsked: r.hist.asked.Load(), HistoryUnanswered: r.hist.unanswered.Load(), HistoryServed: r.hist.served.Load(),
	}
}

// maxMessageBytes is where a batch is split into several messages (bus.MaxDataBytes
// with room for the largest item).
const maxMessageBytes = 768 << 10

// followQueue and followEventQueue bound the messages of one followed sensor waiting
// for this node's hub (a message is a whole batch; the hub takes it in microseconds).
const (
	followQueue      = 256
	followEventQueue = 64
)

type wireBufs struct{ buf, scratch []byte }

// OnIngest publishes an ingested batch while another node watches the sensor (the
// wiring passes it as hub.Options.OnIngest: it runs with the sensor's lock held, so
// a sensor's batches go out in ingest order, and costs an atomic load while no other
// node watches anything).
func (s *Service) OnIngest(sensorID string, b *hub.Batch) {
	r := &s.remote
	if !r.solo {
		r.hold(sensorID) // answer other nodes' history asks (history.go)
	}
	if !r.bus.Interested(bus.KindMeasurements, sensorID) {
		return
	}
	w, _ := r.bufs.Get().(*wireBufs)
	if w == nil {
		w = &wireBufs{}
	}
	w.buf, w.scratch = encodeBatch(w.buf, w.scratch, b, maxMessageBytes, func(data []byte) {
		if err := r.bus.Publish(bus.Message{Kind: bus.KindMeasurements, Key: sensorID, Data: data}); err != nil {
			r.unsent.Add(1)
			r.log.Debug().Err(err).Str("sensor", sensorID).Msg("measurements not sent to other nodes")
			return
		}
		r.batchesOut.Add(1)
	})
	r.bufs.Put(w)
}

// follow makes this node receive the data and events of the sensors from the nodes
// that ingest them, for as long as the returned release is not called: a Watch holds
// its sensors so. Received batches go through this node's hub (IngestRemote), so the
// watchers here get them in their own windows like local data.
func (r *remote) follow(ids []string) (release func()) {
	if r.solo {
		return func() {} // a single server: nothing comes from other nodes
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	held := make([]string, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(held, id) {
			continue
		}
		f := r.follows[id]
		if f == nil {
			data, err := r.bus.Subscribe(bus.KindMeasurements, id, followQueue)
			if err != nil {
				r.log.Warn().Err(err).Str("sensor", id).Msg("cannot follow the sensor on other nodes")
				continue
			}
			events, err := r.bus.Subscribe(bus.KindSensorEvents, id, followEventQueue)
			if err != nil {
				data.Close()
				r.log.Warn().Err(err).Str("sensor", id).Msg("cannot follow the sensor on other nodes")
				continue
			}
			f = &follow{data: data, events: events}
			r.follows[id] = f
			go r.apply(id, f) // ends when both subscriptions close (release, or the bus)
		}
		f.refs++
		held = append(held, id)
	}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, id := range held {
			f := r.follows[id]
			if f.refs--; f.refs == 0 {
				f.data.Close()
				f.events.Close()
				delete(r.follows, id)
			}
		}
		held = nil
	}
}

var eventKindOf = map[string]hub.EventKind{}

func init() {
	for k, name := range eventKinds {
		eventKindOf[name] = k
	}
}

// apply feeds what other nodes send of a followed sensor to this node's hub.
func (r *remote) apply(id string, f *follow) {
	data, events := f.data.C(), f.events.C()
	for data != nil || events != nil {
		select {
		case m, ok := <-data:
			if !ok {
				data = nil
				continue
			}
			b, err := decodeBatch(m.Data)
			if err == nil {
				_, err = r.hub.IngestRemote(id, b)
			}
			if err != nil {
				r.rejected.Add(1)
				r.log.Debug().Err(err).Str("sensor", id).Str("from", m.Origin).Msg("measurements of another node refused")
				continue
			}
			r.batchesIn.Add(1)
			r.sensors.SeenRemote(id) // connected, on another node
		case m, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			var ev SensorEventMessage
			kind, known := hub.EventKind(0), false
			if json.Unmarshal(m.Data, &ev) == nil {
				switch ev.Kind {
				case eventSession, "attention", "updated", "removed":
					// For connector sessions (sessionmove.go). The other node's attention
					// reaches this node's Watch streams as bus.KindAttention
					// (remoteattention.go), which a Watch follows, and updates and
					// removals as bus.KindSensorRegistry (registry.go), applied to this
					// node's registry before its watchers are told.
					continue
				}
				kind, known = eventKindOf[ev.Kind]
			}
			if !known {
				r.rejected.Add(1)
				continue
			}
			if kind == hub.EventConnected {
				r.sensors.SeenRemote(id)
			}
			_ = r.hub.NotifyRemote(id, kind) // not live here (deleted): nobody to tell
		}
	}
}

// SensorEventMessage is the payload of bus.KindSensorEvents.
type SensorEventMessage struct {
	// Kind is "registered", "updated", "connected", "disconnected", "removed",
	// "attention", or "session" (a connector session started: sessionmove.go).
	Kind string `json:"kind"`
	AtUS int64  `json:"at_us"`
}

// AttentionMessage is the payload of bus.KindAttention: this node's attention on the
// sensor after a change.
type AttentionMessage struct {
	Level      attention.Level `json:"level"`
	Previous   attention.Level `json:"previous"`
	Watchers   uint32          `json:"watchers"`
	Attributes []AttributeItem `json:"attributes,omitempty"`
	ChangedAt  time.Time       `json:"changed_at"`
}

// AttributeItem is one attribute's attention in an AttentionMessage.
type AttributeItem struct {
	AttributeID string          `json:"attribute_id"`
	Level       attention.Level `json:"level"`
	Viewers     uint32          `json:"viewers"`
	Hovering    uint32          `json:"hovering"`
	Focused     uint32          `json:"focused"`
	Pinned      uint32          `json:"pinned"`
}

// BackpressureMessage is the payload of bus.KindBackpressure: a sensor's new config.
type BackpressureMessage struct {
	AttentionLevel           attention.Level `json:"attention_level"`
	SystemLoad               loadmon.Level   `json:"system_load"`
	MemoryProtectionActive   bool            `json:"memory_protection_active"`
	Paused                   bool            `json:"paused"`
	RecommendedBatchWindowMS uint32          `json:"recommended_batch_window_ms"`
	RecommendedBatchSize     uint32          `json:"recommended_batch_size"`
	LoadMultiplier           float64         `json:"load_multiplier"`
	Timestamp                time.Time       `json:"timestamp"`
}

// Config returns the back-pressure config the message carries.
func (m BackpressureMessage) Config() backpressure.Config {
	return backpressure.Config{
		AttentionLevel: m.AttentionLevel, SystemLoad: m.SystemLoad, MemoryProtectionActive: m.MemoryProtectionActive,
		Paused: m.Paused, RecommendedBatchWindowMS: m.RecommendedBatchWindowMS, RecommendedBatchSize: m.RecommendedBatchSize,
		LoadMultiplier: m.LoadMultiplier, Timestamp: m.Timestamp,
	}
}

var eventKinds = map[hub.EventKind]string{
	hub.EventRegistered:   "registered",
	hub.EventUpdated:      "updated",
	hub.EventConnected:    "connected",
	hub.EventDisconnected: "disconnected",
	hub.EventRemoved:      "removed",
	hub.EventAttention:    "attention",
}

// OnHubEvent publishes a hub event while another node follows the sensor's events
// (the wiring passes it as hub.Options.OnEvent: it runs with the sensor's lock held,
// and costs an atomic load on a single node).
func (s *Service) OnHubEvent(ev hub.Event) {
	r := &s.remote
	if !r.bus.Interested(bus.KindSensorEvents, ev.SensorID) {
		return
	}
	r.publish(bus.KindSensorEvents, ev.SensorID, SensorEventMessage{Kind: eventKinds[ev.Kind], AtUS: ev.AtUS})
}

// attention publishes an attention change.
func (r *remote) attention(c attention.Change) {
	if !r.bus.Interested(bus.KindAttention, c.SensorID) {
		return
	}
	m := AttentionMessage{Level: c.Level, Previous: c.Previous, Watchers: c.Watchers, ChangedAt: c.ChangedAt}
	for _, a := range c.Attributes {
		m.Attributes = append(m.Attributes, AttributeItem{
			AttributeID: a.AttributeID, Level: a.Level, Viewers: a.Viewers, Hovering: a.Hovering, Focused: a.Focused, Pinned: a.Pinned,
		})
	}
	r.publish(bus.KindAttention, c.SensorID, m)
}

// backpressure publishes a sensor's new config (backpressure.Publisher.OnChange: it
// runs under the publisher's lock).
func (r *remote) backpressure(sensorID string, c backpressure.Config) {
	if !r.bus.Interested(bus.KindBackpressure, sensorID) {
		return
	}
	r.publish(bus.KindBackpressure, sensorID, BackpressureMessage{
		AttentionLevel: c.AttentionLevel, SystemLoad: c.SystemLoad, MemoryProtectionActive: c.MemoryProtectionActive,
		Paused: c.Paused, RecommendedBatchWindowMS: c.RecommendedBatchWindowMS, RecommendedBatchSize: c.RecommendedBatchSize,
		LoadMultiplier: c.LoadMultiplier, Timestamp: c.Timestamp,
	})
}

func (r *remote) publish(kind bus.Kind, key string, payload any) {
	data, err := json.Marshal(payload)
	if err == nil {
		err = r.bus.Publish(bus.Message{Kind: kind, Key: key, Data: data})
	}
	if err != nil {
		// At most once: a message that cannot go is lost, like one a full queue drops.
		r.log.Warn().Err(fmt.Errorf("publish %s of %s: %w", kind, key, err)).Msg("bus message not sent")
	}
}
