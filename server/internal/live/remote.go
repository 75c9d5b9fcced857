package live

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/loadmon"
)

// remote publishes what of the live path must cross nodes, while another node is
// interested: on a single node Interested is false and nothing is encoded. The local
// path never goes through it (the hub, the tracker and the publisher deliver to this
// node's sessions directly). Payloads are JSON: these messages are rare (a change of
// state, not a measurement), and readable on the wire.
type remote struct {
	bus bus.Bus
	log zerolog.Logger
}

// SensorEventMessage is the payload of bus.KindSensorEvents.
type SensorEventMessage struct {
	// Kind is "registered", "updated", "connected", "disconnected", "removed" or
	// "attention".
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
