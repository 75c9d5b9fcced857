// Package schematype owns the Go types stored in JSON columns of the ent schema. It is a
// separate package so that the generated ent code can import it without importing
// ent/schema itself.
package schematype

// RoomFeatures are the per-room feature switches, stored as one JSON column on rooms.
// A missing key decodes as false, so adding a feature needs no data migration.
type RoomFeatures struct {
	// Calls enables WebRTC calls in the room.
	Calls bool `json:"calls"`
	// MediaPlayback enables the synchronised media player.
	MediaPlayback bool `json:"media_playback"`
	// Object3D enables the shared 3D object viewer.
	Object3D bool `json:"object_3d"`
	// Whiteboard enables the shared whiteboard.
	Whiteboard bool `json:"whiteboard"`
}

// DefaultRoomFeatures are the features a new room starts with.
func DefaultRoomFeatures() RoomFeatures {
	return RoomFeatures{Calls: true, MediaPlayback: true}
}
