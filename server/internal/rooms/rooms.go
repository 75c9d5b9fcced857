package rooms

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/schematype"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Limits of a room.
const (
	// MaxMembers is the most members one room has (the owner included).
	MaxMembers = 1000
	// MaxSensors is the most sensors one room shares.
	MaxSensors = 200
	// MaxOwnedRooms is the most rooms one user owns.
	MaxOwnedRooms = 100
	// DefaultPageSize and MaxPageSize bound ListRooms pages.
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Features are a room's feature flags.
type Features = schematype.RoomFeatures

// Room is a room as one viewer may see it.
type Room struct {
	ID          uuid.UUID
	Name        string
	Description string
	OwnerID     uuid.UUID
	Public      bool
	Features    Features
	// MembersAddPublic lets members place other users' public sensors.
	MembersAddPublic bool
	// JoinCode is empty unless the viewer may see it (owner and admins).
	JoinCode string
	// JoinCodeExpiresAt is zero when the code never expires.
	JoinCodeExpiresAt time.Time
	// MyRole is the viewer's role, authz.RoleNone for a non-member.
	MyRole       authz.RoomRole
	MemberCount  int
	SensorIDs    []string
	PresentCount int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Member is a room member with their presence.
type Member struct {
	UserID      uuid.UUID
	DisplayName string
	Role        authz.RoomRole
	JoinedAt    time.Time
	Guest       bool
	Present     bool
	// Views are the views the member has open in live tabs, sorted.
	Views []string
}

// Preview is what a join code shows before joining.
type Preview struct {
	RoomID        uuid.UUID
	Name          string
	Description   string
	MemberCount   int
	OwnerName     string
	AlreadyMember bool
}

// SensorSource is what rooms need of the sensor registry.
type SensorSource interface {
	// Get returns a sensor v may see (NotFound otherwise).
	Get(ctx context.Context, v authz.Viewer, id string) (sensors.Sensor, error)
	// Describe returns the sensors that exist among ids, in no order, unchecked.
	Describe(ctx context.Context, ids []string) ([]sensors.Sensor, error)
	// AccessChanged ends open streams of the sensors whose viewers may see them no more.
	AccessChanged(ctx context.Context, ids ...string)
}

// Options configure a Service.
type Options struct {
	Ent     *ent.Client
	Sensors SensorSource
	Logger  zerolog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Window is how long changes are gathered before WatchRoom sends them
	// (DefaultWindow when zero).
	Window time.Duration
	// Lapse is how long a tab stays present after its last heartbeat (DefaultLapse
	// when zero).
	Lapse time.Duration
	// Limits of join-code lookups (DefaultJoinCodeLimits when zero).
	Limits JoinCodeLimits
	// MemberGone is told of every membership that ended (left, removed, deleted with
	// the room or the user), after the index changed; nil: nobody.
	MemberGone func(ctx context.Context, roomID, userID uuid.UUID)
	// RoomGone is told of every deleted room, after the index changed; nil: nobody.
	RoomGone func(roomID uuid.UUID)
	// Bus carries room changes and presence to the other nodes of a cluster (nil: a
	// single node). See cluster.go.
	Bus bus.Bus
}

// DefaultWindow is how long WatchRoom gathers changes before sending them.
const DefaultWindow = 50 * time.Millisecond

// DefaultLapse is how long a tab stays present after its last heartbeat.
const DefaultLapse = 30 * time.Second

// Service is the rooms domain. All methods are safe for concurrent use.
type Service struct {
	db      *ent.Client
	sensors SensorSource
	log     zerolog.Logger
	now     func() time.Time
	window  time.Duration
	lapse   time.Duration
	limits  *codeLimiters
	// hooks of ended memberships and rooms (never nil)
	memberGone func(ctx context.Context, roomID, userID uuid.UUID)
	roomGone   func(roomID uuid.UUID)

	idx index
	// seq orders this process's writes of rooms and the starts of its reads of them
	// from the database, so a read older than a write is not applied over it.
	seq  atomic.Uint64
	conf *confirmer // confirms the index's misses (confirm.go)
	// fetch reads a room for a confirmation (fetchRoom; tests count the reads)
	fetch func(context.Context, uuid.UUID) (*ent.Room, error)

	// dirty rooms have changes for their watchers; active rooms have watchers.
	fanMu  sync.Mutex
	dirty  map[*roomState]struct{}
	active map[*roomState]struct{}

	cl cluster
}

// New returns a Service with its index loaded from the database. Run sends WatchRoom
// changes and expires presence; call it in a goroutine the caller owns.
func New(ctx context.Context, o Options) (*Service, error) {
	s := &Service{
		db: o.Ent, sensors: o.Sensors, log: o.Logger, now: o.Now, window: o.Window, lapse: o.Lapse,
		conf:  newConfirmer(),
		dirty: make(map[*roomState]struct{}), active: make(map[*roomState]struct{}),
		cl: cluster{bus: o.Bus, reloads: make(map[uuid.UUID]struct{}), wake: make(chan struct{}, 1), remote: make(map[*roomState]struct{})},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.fetch = s.fetchRoom
	s.memberGone, s.roomGone = o.MemberGone, o.RoomGone
	if s.memberGone == nil {
		s.memberGone = func(context.Context, uuid.UUID, uuid.UUID) {}
	}
	if s.roomGone == nil {
		s.roomGone = func(uuid.UUID) {}
	}
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	if s.lapse <= 0 {
		s.lapse = DefaultLapse
	}
	s.limits = newCodeLimiters(o.Limits, s.now)
	if err := s.subscribe(); err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		if s.cl.bus != nil {
			s.cl.events.Close()
			s.cl.presence.Close()
		}
		return nil, err
	}
	return s, nil
}

// load fills the index with every room, membership and room sensor.
func (s *Service) load(ctx context.Context) error {
	rows, err := s.db.Room.Query().
		WithMemberships(func(q *ent.RoomMembershipQuery) { q.WithUser() }).
		WithRoomSensors(func(q *ent.RoomSensorQuery) { q.WithSensor() }).
		All(ctx)
	if err != nil {
		return fmt.Errorf("load rooms: %w", err)
	}
	s.idx.init()
	for _, row := range rows {
		r := stateOf(row)
		for _, m := range row.Edges.Memberships {
			mem := &member{role: authz.RoomRole(m.Role), joinedAt: m.CreatedAt}
			if u := m.Edges.User; u != nil {
				mem.name, mem.guest = u.DisplayName, u.IsGuest
			}
			r.members[m.UserID] = mem
		}
		for _, rs := range row.Edges.RoomSensors {
			p := placement{addedAt: rs.CreatedAt}
			if sn := rs.Edges.Sensor; sn != nil {
				p.owner = sn.OwnerID
				p.byOwner = rs.AddedBy != nil && *rs.AddedBy == sn.OwnerID
			}
			r.sensors[rs.SensorID] = p
		}
		s.idx.put(r)
	}
	return nil
}
