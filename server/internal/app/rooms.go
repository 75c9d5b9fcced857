package app

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/roomdoc"
	"github.com/sensocto/sensocto/server/internal/roomdoc/route"
	"github.com/sensocto/sensocto/server/internal/roomdocrpc"
	"github.com/sensocto/sensocto/server/internal/rooms"
	"github.com/sensocto/sensocto/server/internal/roomsrpc"
)

// roomsWiring is the rooms domain and the rooms' shared documents.
type roomsWiring struct {
	rooms  *rooms.Service
	docs   *roomdoc.Manager
	router *route.Router // each document on its owning node (cluster mode)
}

// newRooms builds the rooms domain over the sensor registry (rooms tell the registry
// who may see which sensor through them, its membership view; the registry tells rooms
// of deleted sensors) and the rooms' documents, whose access comes from the same
// membership view and which hear of ended memberships and rooms.
func (a *App) newRooms(ctx context.Context, rt *realtime) (*roomsWiring, error) {
	w := &roomsWiring{}
	svc, err := rooms.New(ctx, rooms.Options{
		Ent: a.db.Client, Sensors: rt.sensors, Now: a.opts.now, Lapse: a.opts.roomLapse,
		Limits: rooms.JoinCodeLimitsPerMinute(a.cfg.AuthRatePerMinute),
		Logger: a.logger.With().Str("domain", "rooms").Logger(),
		MemberGone: func(ctx context.Context, roomID, userID uuid.UUID) {
			w.docs.Revoke(ctx, roomID, userID)
		},
		RoomGone: func(roomID uuid.UUID) { w.docs.Forget(roomID) },
		Bus:      a.bus,
	})
	if err != nil {
		return nil, fmt.Errorf("build rooms: %w", err)
	}
	w.rooms = svc
	w.docs = roomdoc.New(roomdoc.Options{
		Ent: a.db.Client, Members: docMembers{svc}, Now: a.opts.now,
		Logger: a.logger.With().Str("domain", "roomdoc").Logger(),
	})
	if w.router, err = route.New(route.Options{
		Docs: w.docs, Bus: a.bus, Leases: a.leases,
		Logger: a.logger.With().Str("domain", "roomdoc").Logger(),
	}); err != nil {
		return nil, fmt.Errorf("build room documents' router: %w", err)
	}
	rt.sensors.SetRoomAccess(svc)
	rt.sensorDeleted = svc.SensorDeleted
	return w, nil
}

// docMembers answers the documents' access from the rooms' membership view in memory.
type docMembers struct{ rooms *rooms.Service }

func (m docMembers) Access(ctx context.Context, roomID, userID uuid.UUID) (roomdoc.Access, error) {
	role, f := m.rooms.Membership(ctx, roomID, userID)
	acc := roomdoc.Access{Features: roomdoc.Features{MediaPlayback: f.MediaPlayback, Object3D: f.Object3D, Whiteboard: f.Whiteboard}}
	switch role {
	case authz.RoleOwner:
		acc.Role = roomdoc.RoleOwner
	case authz.RoleAdmin:
		acc.Role = roomdoc.RoleAdmin
	case authz.RoleMember:
		acc.Role = roomdoc.RoleMember
	}
	return acc, nil
}

// mount registers RoomService (after the real-time core's services, whose sensor
// messages it reuses) and returns its name.
func (w *roomsWiring) mount(rt *realtime, mount func(string, http.Handler), opts []connect.HandlerOption) []string {
	h := roomsrpc.New(w.rooms, roomdocrpc.NewRouted(w.router), rt.sensorMessage)
	mount(sensoctov1connect.NewRoomServiceHandler(h, opts...))
	return []string{sensoctov1connect.RoomServiceName}
}

// run runs the rooms' fan-out and the documents' upkeep until ctx ends.
func (w *roomsWiring) run(ctx context.Context) error {
	done := make(chan error, 2)
	go func() { done <- w.docs.Run(ctx) }()
	go func() { done <- w.router.Run(ctx) }()
	err := w.rooms.Run(ctx)
	for range 2 {
		if derr := <-done; err == nil {
			err = derr
		}
	}
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	return nil
}
