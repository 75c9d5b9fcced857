// Package roomdoc owns every room's shared document: one Automerge document per room
// (notes, media player, 3D viewer, whiteboard, annotations; the schema is
// docs/room-document.md). It loads a room's document when the room becomes active,
// keeps one Automerge sync state per peer (a browser tab), checks every change a peer
// sends against the schema, the caps and the peer's rights before keeping any of it,
// appends accepted changes to the relational store (RoomDocumentChange) before
// acknowledging them, hands every other attached peer a fresh sync message, runs the
// controller hand-off of the media player and 3D viewer, and compacts documents
// periodically and on shutdown.
package roomdoc

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Role is a user's role in a room, as far as the document cares.
type Role int

// Roles, from none up.
const (
	RoleNone Role = iota
	RoleMember
	RoleAdmin
	RoleOwner
)

// Features are the room's feature flags that govern the document: a section whose
// feature is off is read-only for everyone.
type Features struct {
	MediaPlayback bool
	Object3D      bool
	Whiteboard    bool
}

// Access is what a user may do with a room's document.
type Access struct {
	Role     Role
	Features Features
}

// Members answers who may use a room's document. RoleNone means "not a member" (the
// caller then gets NotFound, as for a room that does not exist).
type Members interface {
	Access(ctx context.Context, roomID, userID uuid.UUID) (Access, error)
}

// Limits are the caps on documents, changes and peers (docs/room-document.md lists
// them). Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxChangeBytes caps one Automerge change (its encoded size).
	MaxChangeBytes int
	// MaxDocumentBytes caps a document: its compacted size plus the increments since.
	MaxDocumentBytes int
	// MaxNotesChars caps the notes (Unicode code points).
	MaxNotesChars int
	// MaxStrokes caps the whiteboard's strokes.
	MaxStrokes int
	// MaxStrokePoints caps one stroke's points.
	MaxStrokePoints int
	// MaxAnnotations caps the annotations.
	MaxAnnotations int
	// MaxPeersPerRoom caps the peers (tabs) syncing one room at once.
	MaxPeersPerRoom int
	// ControlRequestTimeout is how long a request for control waits for the controller
	// to grant it before it wins on its own.
	ControlRequestTimeout time.Duration
	// PeerIdle ends a peer without a WatchRoom stream that has not synced for this long.
	PeerIdle time.Duration
	// CompactAfter compacts a document once this many increments were appended.
	CompactAfter int
	// CompactIdle compacts a document with increments once it had no change for this long.
	CompactIdle time.Duration
	// UnloadIdle drops a compacted document without peers from memory after this long.
	UnloadIdle time.Duration
	// Tick is how often the manager checks timeouts, compaction and idle rooms.
	Tick time.Duration
	// RefusalBurst is how many sync messages of one user in one room may be refused
	// in a row before the user's messages are refused unread (ResourceExhausted).
	RefusalBurst int
	// RefusalInterval is how often one more refusal is allowed after the burst.
	RefusalInterval time.Duration
}

// DefaultLimits are the limits in force unless a test changes them.
var DefaultLimits = Limits{
	MaxChangeBytes:        256 << 10,
	MaxDocumentBytes:      4 << 20,
	MaxNotesChars:         100_000,
	MaxStrokes:            2_000,
	MaxStrokePoints:       4_096,
	MaxAnnotations:        1_000,
	MaxPeersPerRoom:       256,
	ControlRequestTimeout: 10 * time.Second,
	PeerIdle:              2 * time.Minute,
	CompactAfter:          500,
	CompactIdle:           time.Minute,
	UnloadIdle:            5 * time.Minute,
	Tick:                  250 * time.Millisecond,
	RefusalBurst:          20,
	RefusalInterval:       5 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxChangeBytes, d.MaxChangeBytes)
	set(&l.MaxDocumentBytes, d.MaxDocumentBytes)
	set(&l.MaxNotesChars, d.MaxNotesChars)
	set(&l.MaxStrokes, d.MaxStrokes)
	set(&l.MaxStrokePoints, d.MaxStrokePoints)
	set(&l.MaxAnnotations, d.MaxAnnotations)
	set(&l.MaxPeersPerRoom, d.MaxPeersPerRoom)
	setD(&l.ControlRequestTimeout, d.ControlRequestTimeout)
	setD(&l.PeerIdle, d.PeerIdle)
	set(&l.CompactAfter, d.CompactAfter)
	setD(&l.CompactIdle, d.CompactIdle)
	setD(&l.UnloadIdle, d.UnloadIdle)
	setD(&l.Tick, d.Tick)
	set(&l.RefusalBurst, d.RefusalBurst)
	setD(&l.RefusalInterval, d.RefusalInterval)
	return l
}
