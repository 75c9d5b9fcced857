package roomdoc

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/roomdocument"
	"github.com/sensocto/sensocto/ent/roomdocumentchange"
)

// store keeps documents in the relational store: the compacted document in
// room_documents and the increments appended since in room_document_changes.
type store struct {
	client *ent.Client
}

// stored is a room's document as stored.
type stored struct {
	snapshot     []byte
	version      int64
	compactedSeq int64
	increments   [][]byte
	lastSeq      int64
	bytes        int
}

// errNoDocument: the room has no document yet.
var errNoDocument = errors.New("room has no document yet")

// errConcurrentCompaction: another writer compacted the document meanwhile.
var errConcurrentCompaction = errors.New("room document was compacted concurrently")

func (s *store) load(ctx context.Context, roomID uuid.UUID) (*stored, error) {
	doc, err := s.client.RoomDocument.Query().Where(roomdocument.RoomID(roomID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errNoDocument
	}
	if err != nil {
		return nil, fmt.Errorf("load room document: %w", err)
	}
	st := &stored{snapshot: doc.Automerge, version: doc.Version, compactedSeq: doc.CompactedSeq, lastSeq: doc.CompactedSeq, bytes: len(doc.Automerge)}
	incs, err := s.client.RoomDocumentChange.Query().
		Where(roomdocumentchange.RoomID(roomID), roomdocumentchange.SeqGT(doc.CompactedSeq)).
		Order(ent.Asc(roomdocumentchange.FieldSeq)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load room document changes: %w", err)
	}
	for _, c := range incs {
		st.increments = append(st.increments, c.Data)
		st.lastSeq = c.Seq
		st.bytes += len(c.Data)
	}
	return st, nil
}

// create stores a room's first document; errConcurrentCompaction when another node
// created it first.
func (s *store) create(ctx context.Context, roomID uuid.UUID, snapshot []byte) error {
	err := s.client.RoomDocument.Create().SetRoomID(roomID).SetAutomerge(snapshot).SetVersion(1).Exec(ctx)
	if ent.IsConstraintError(err) {
		return errConcurrentCompaction
	}
	if err != nil {
		return fmt.Errorf("create room document: %w", err)
	}
	return nil
}

// appendIncrement stores one increment with the given seq.
func (s *store) appendIncrement(ctx context.Context, roomID uuid.UUID, seq int64, data []byte) error {
	if err := s.client.RoomDocumentChange.Create().SetRoomID(roomID).SetSeq(seq).SetData(data).Exec(ctx); err != nil {
		return fmt.Errorf("append room document change: %w", err)
	}
	return nil
}

// compact replaces the stored document with snapshot, which includes every increment up
// to seq, and deletes those increments, in one transaction. version is the version the
// caller loaded; the stored one becomes version+1.
func (s *store) compact(ctx context.Context, roomID uuid.UUID, snapshot []byte, seq, version int64) (err error) {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("compact room document: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	n, err := tx.RoomDocument.Update().
		Where(roomdocument.RoomID(roomID), roomdocument.Version(version)).
		SetAutomerge(snapshot).SetVersion(version + 1).SetCompactedSeq(seq).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("compact room document: %w", err)
	}
	if n != 1 {
		return errConcurrentCompaction
	}
	if _, err = tx.RoomDocumentChange.Delete().
		Where(roomdocumentchange.RoomID(roomID), roomdocumentchange.SeqLTE(seq)).
		Exec(ctx); err != nil {
		return fmt.Errorf("compact room document: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("compact room document: %w", err)
	}
	return nil
}
