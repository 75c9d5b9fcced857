// Package bus is the seam through which everything that must cross server nodes
// travels, and nothing else: live data for watchers on other nodes, sensor events,
// attention changes, back-pressure configs, credential revocations, and room events and
// presence. Each Kind has one owner that publishes it (see the Kind constants).
//
// The bus is not the local path. A node delivers to its own streams directly (the hub
// fans out measurements and sensor events, the attention tracker and the back-pressure
// publisher push to their subscribers, auth.Revocations ends the node's own streams),
// and a node never receives what it published itself. A message goes on the bus only
// while another node is interested in it: owners ask Interested first (an atomic load
// while no other node subscribed to the kind), so a single node pays nothing and
// encodes nothing. This is the "forwarding is interest-based" rule of cluster mode: a
// sensor's data leaves its node only while another node watches it.
//
// Delivery is at most once. Messages of one key published one after the other by one
// node arrive in that order at every subscriber; there is no order across keys or
// across publishing nodes. Every subscription has a bounded queue: when it is full,
// new messages for it are dropped and counted (Subscription.Dropped), and the
// publisher never waits.
//
// Implementations: Local (in-process nodes joined to a Network, used by a single node
// and by tests that run several nodes in one process), and natsbus.Bus for cluster
// mode (package bus/natsbus, over NATS core). Every implementation must pass the contract suite in package bustest.
//
// For rooms (package rooms): publish room changes as KindRoomEvents and presence as
// KindRoomPresence, keyed by the room id, with the payload encoding of your choice
// (the bus carries bytes); subscribe with key "" to follow every room, or per room.
package bus

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// Kind is what a message is about. Every kind has one owner that publishes it and
// names its payload encoding; the key orders messages of a kind.
type Kind uint8

// The kinds of messages, with their key and owner.
const (
	// KindMeasurements is live data of a sensor for watchers on other nodes. Key: the
	// sensor id. Owner: the live domain, published on ingest while another node
	// watches the sensor.
	KindMeasurements Kind = iota + 1
	// KindSensorEvents are a sensor's events (registered, updated, connected,
	// disconnected, removed). Key: the sensor id. Owner: the live domain.
	KindSensorEvents
	// KindAttention is a sensor's attention level change. Key: the sensor id. Owner:
	// the live domain (from the attention tracker).
	KindAttention
	// KindBackpressure is a sensor's new back-pressure config. Key: the sensor id.
	// Owner: the live domain (from the back-pressure publisher).
	KindBackpressure
	// KindRevocations are ended or changed credentials (tokens revoked, users deleted
	// or changed). Key: the user id. Owner: auth.Revocations.
	KindRevocations
	// KindRoomEvents are changes of a room (members, roles, sensors, settings,
	// deletion). Key: the room id. Owner: the rooms domain.
	KindRoomEvents
	// KindRoomPresence is who is present in a room, per member and view. Key: the
	// room id. Owner: the rooms domain.
	KindRoomPresence
	// KindRoomDoc carries a room document's sync messages between a node that serves
	// a client and the node that owns the document (its lease). Key: "node:" and the
	// receiving node's id. Owner: the room documents' router (roomdoc/route).
	KindRoomDoc
	// KindHistoryAsk asks the node that ingests a sensor for its in-memory window of
	// an attribute (the part of GetHistory not recorded yet). Key: the sensor id,
	// subscribed by a node while it ingests the sensor. Owner: the live domain
	// (live/history.go).
	KindHistoryAsk
	// KindHistoryAnswer is the answer to a KindHistoryAsk. Key: "node:" and the asking
	// node's id. Owner: the live domain (live/history.go).
	KindHistoryAnswer
	// KindSensorRegistry are changes of a sensor's registry entry (visibility or name
	// updated, recording switched, deleted) for every node, whether or not it watches
	// the sensor. Key: the sensor id. Owner: the live domain (from the sensors
	// domain's OnRegistryChange).
	KindSensorRegistry
	// KindConnectedSet is the set of sensors connected to a node (an open Stream, or
	// data within sensors.ConnectedWindow), repeated every few seconds in chunks, so
	// every node shows them connected, lapsing with the node. Key: "node:" and the
	// announcing node's id. Owner: the live domain (live/connected.go).
	KindConnectedSet

	kindEnd // one past the last kind
)

// Kinds lists every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, 0, kindEnd-1)
	for k := KindMeasurements; k < kindEnd; k++ {
		out = append(out, k)
	}
	return out
}

var kindNames = [kindEnd]string{
	KindMeasurements:   "measurements",
	KindSensorEvents:   "sensor_events",
	KindAttention:      "attention",
	KindBackpressure:   "backpressure",
	KindRevocations:    "revocations",
	KindRoomEvents:     "room_events",
	KindRoomPresence:   "room_presence",
	KindRoomDoc:        "room_doc",
	KindHistoryAsk:     "history_ask",
	KindHistoryAnswer:  "history_answer",
	KindSensorRegistry: "sensor_registry",
	KindConnectedSet:   "connected_set",
}

// String names the kind (a NATS subject token).
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k > 0 && k < kindEnd }

// Limits of messages and subscriptions.
const (
	// MaxKeyBytes bounds a key (sensor ids are at most 128 bytes, UUIDs 36).
	MaxKeyBytes = 256
	// MaxDataBytes bounds a payload (NATS's default maximum payload).
	MaxDataBytes = 1 << 20
	// DefaultQueue is a subscription's queue when Subscribe is given 0.
	DefaultQueue = 1024
	// MaxQueue bounds a subscription's queue, in messages.
	MaxQueue = 1 << 16
	// MaxNodeIDBytes bounds a node id.
	MaxNodeIDBytes = 64
)

// Message is one message on the bus.
type Message struct {
	Kind Kind
	// Key orders the messages of a kind: a sensor, user or room id.
	Key string
	// Data is the payload, encoded by the kind's owner. Publish does not keep it: the
	// publisher may reuse the slice once Publish returns. A received Data belongs to
	// the receiver.
	Data []byte
	// Origin is the NodeID of the publishing node, set by the bus.
	Origin string
}

// Bus is one node's end of the bus. All methods are safe for concurrent use.
type Bus interface {
	// NodeID names this node; every message it publishes carries it as Origin.
	NodeID() string
	// Publish sends m to every subscription of other nodes to m.Kind and m.Key (or to
	// every key of m.Kind). It never waits for a subscriber. An invalid message is an
	// InvalidArgument naming the field (kind, key, data); after Close it is ErrClosed.
	Publish(m Message) error
	// Subscribe receives messages of kind published by other nodes, of one key or,
	// with key "", of every key. queue bounds the messages held unread (0:
	// DefaultQueue, at most MaxQueue). Close the subscription when done.
	Subscribe(kind Kind, key string, queue int) (Subscription, error)
	// Interested reports whether a subscription of another node would receive a
	// message of kind and key now. Owners ask it before encoding a message: it is a
	// few atomic loads while no other node follows the kind.
	Interested(kind Kind, key string) bool
	// Close leaves the bus: this node's subscriptions end (their channels close) and
	// later calls fail with ErrClosed. It is idempotent.
	Close() error
}

// Subscription is a bounded queue of received messages.
type Subscription interface {
	// C delivers the messages in the order they were queued. It is closed when the
	// subscription ends (Close, or its bus's Close); messages queued before may still
	// be read then, none published after.
	C() <-chan Message
	// Dropped counts the messages dropped because the queue was full.
	Dropped() uint64
	// Close ends the subscription. It is idempotent.
	Close()
}

// ErrClosed is returned by a Bus after Close.
var ErrClosed = errors.New("bus closed")

// CheckMessage checks what Publish accepts: a defined kind, a key of 1 to MaxKeyBytes
// bytes of UTF-8, and at most MaxDataBytes of data.
func CheckMessage(m *Message) error {
	if err := checkKind(m.Kind); err != nil {
		return err
	}
	if m.Key == "" {
		return apperr.InvalidArgument("key", "a message needs a key (a sensor, user or room id)")
	}
	if err := checkKey(m.Key); err != nil {
		return err
	}
	if len(m.Data) > MaxDataBytes {
		return apperr.InvalidArgument("data", fmt.Sprintf("at most %d bytes", MaxDataBytes))
	}
	return nil
}

// CheckSubscription checks what Subscribe accepts and returns the queue length to use.
func CheckSubscription(kind Kind, key string, queue int) (int, error) {
	if err := checkKind(kind); err != nil {
		return 0, err
	}
	if err := checkKey(key); err != nil {
		return 0, err
	}
	switch {
	case queue < 0 || queue > MaxQueue:
		return 0, apperr.InvalidArgument("queue", fmt.Sprintf("between 0 (the default, %d) and %d messages", DefaultQueue, MaxQueue))
	case queue == 0:
		return DefaultQueue, nil
	}
	return queue, nil
}

func checkKind(k Kind) error {
	if !k.Valid() {
		return apperr.InvalidArgument("kind", fmt.Sprintf("unknown kind %d", uint8(k)))
	}
	return nil
}

func checkKey(key string) error {
	if len(key) > MaxKeyBytes || !utf8.ValidString(key) {
		return apperr.InvalidArgument("key", fmt.Sprintf("at most %d bytes of UTF-8", MaxKeyBytes))
	}
	return nil
}
