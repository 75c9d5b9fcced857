package sensors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/sensor"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/recording"
)

// ConnectedWindow is how long after its last data a sensor without an open Stream
// still counts as connected.
const ConnectedWindow = time.Minute

// Options configure a Service.
type Options struct {
	Ent    *ent.Client
	Hub    *hub.Hub
	Logger zerolog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnDelete is called after a sensor was deleted and removed from the hub (e.g.
	// to forget its back-pressure state and close its config subscriptions).
	OnDelete func(sensorID string)
	// FlushInterval is how often attributes first seen in data are written
	// (500 ms when zero).
	FlushInterval time.Duration
}

// Service is the sensor registry. All methods are safe for concurrent use.
type Service struct {
	db       *ent.Client
	hub      *hub.Hub
	log      zerolog.Logger
	now      func() time.Time
	onDelete func(string)
	interval time.Duration

	mu    sync.RWMutex
	cache map[string]*entry

	// inferred holds attributes first seen in data, not yet written: sensor →
	// attribute → spec. Bounded by hub.MaxAttributesPerSensor per live sensor.
	inferredMu sync.Mutex
	inferred   map[string]map[string]hub.AttributeSpec
	kick       chan struct{}
	written    atomic.Uint64

	// rec records the data of the sensors in recSet (nil: no recording).
	rec      *recording.Recorder
	recSet   atomic.Pointer[recordingSet]
	recState recordingState

	// access follows the sensors open streams may see (WatchAccess).
	access accessWatches

	// sim describes simulated sensors' sources (SetSimulatedSources); nil: none.
	sim atomic.Pointer[simSources]

	// rooms is the rooms' membership view (SetRoomAccess); nil: no room shares anything.
	rooms atomic.Pointer[roomAccess]

	// remoteConn holds when another node last announced a sensor connected to it
	// (SeenConnectedRemote), in Unix µs; entries lapse after remoteConnTTL.
	remoteConnMu  sync.Mutex
	remoteConn    map[string]int64
	remoteConnTTL atomic.Int64

	// onChange is told of registry changes for other nodes (OnRegistryChange).
	onChange atomic.Pointer[func(RegistryChange)]
}

// RoomAccess is the rooms' membership view, kept in memory by package rooms: which
// sensors rooms share with a user (holding them, placed there by their owners).
type RoomAccess interface {
	// SharesSensor reports whether a room the user belongs to shares the sensor.
	SharesSensor(userID uuid.UUID, sensorID string) bool
	// SensorsSharedWith returns the ids of every sensor rooms share with the user.
	SensorsSharedWith(userID uuid.UUID) []string
	// IsMember reports whether the user belongs to the room.
	IsMember(ctx context.Context, roomID, userID uuid.UUID) bool
}

type roomAccess struct{ RoomAccess }

// SetRoomAccess plugs in the rooms' membership view (once, at wiring).
func (s *Service) SetRoomAccess(ra RoomAccess) { s.rooms.Store(&roomAccess{ra}) }

// entry is what the hot path knows about a sensor.
type entry struct {
	owner  uuid.UUID
	public atomic.Bool

	liveMu sync.Mutex
	live   atomic.Bool // registered in the hub

	streams  atomic.Int32
	lastSeen atomic.Int64 // Unix µs of the last accepted batch; 0: none since start
	// remoteSeen is lastSeen of data another node ingested (SeenRemote).
	remoteSeen atomic.Int64
}

func (e *entry) facts() authz.SensorFacts {
	f := authz.SensorFacts{OwnerID: e.owner, Visibility: authz.VisibilityPrivate}
	if e.public.Load() {
		f.Visibility = authz.VisibilityPublic
	}
	return f
}

// New returns a Service. Run writes inferred attributes; call it in a goroutine the
// caller owns.
func New(opts Options) *Service {
	s := &Service{
		db: opts.Ent, hub: opts.Hub, log: opts.Logger, now: opts.Now, onDelete: opts.OnDelete,
		interval: opts.FlushInterval,
		cache:    make(map[string]*entry),
		inferred: make(map[string]map[string]hub.AttributeSpec),
		kick:     make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.interval <= 0 {
		s.interval = 500 * time.Millisecond
	}
	return s
}

// lookup returns the cached entry of a sensor, loading it from the database on a
// miss. A sensor that does not exist is a NotFound error.
func (s *Service) lookup(ctx context.Context, id string) (*entry, error) {
	s.mu.RLock()
	e := s.cache[id]
	s.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	row, err := s.db.Sensor.Query().Where(sensor.ID(id)).Select(sensor.FieldOwnerID, sensor.FieldVisibility).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFound("sensor not found")
	}
	if err != nil {
		return nil, fmt.Errorf("load sensor %s: %w", id, err)
	}
	return s.remember(id, row.OwnerID, row.Visibility == sensor.VisibilityPublic), nil
}

// remember caches a sensor (keeping an existing entry's live state).
func (s *Service) remember(id string, owner uuid.UUID, public bool) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.cache[id]
	if e == nil || e.owner != owner {
		e = &entry{owner: owner}
		s.cache[id] = e
	}
	e.public.Store(public)
	return e
}

func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// inViewersRoom reports whether a room the user belongs to shares the sensor, from the
// rooms' membership view in memory.
func (s *Service) inViewersRoom(userID uuid.UUID, sensorID string) bool {
	ra := s.rooms.Load()
	return ra != nil && ra.SharesSensor(userID, sensorID)
}

// check loads a sensor's facts and applies the policy for action a.
func (s *Service) check(ctx context.Context, v authz.Viewer, id string, a authz.SensorAction) (*entry, error) {
	e, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	f := e.facts()
	if !authz.CanSeeSensor(v, f) {
		f.InViewersRoom = s.inViewersRoom(v.UserID, id)
	}
	if err := authz.CheckSensor(v, f, a); err != nil {
		return nil, fmt.Errorf("sensor %s: %w", id, err)
	}
	return e, nil
}

// CheckView applies the view rule (see, get, watch, history, attention) to a sensor.
func (s *Service) CheckView(ctx context.Context, v authz.Viewer, id string) error {
	_, err := s.check(ctx, v, id, authz.SensorView)
	return err
}

// CheckPublish applies the publish rule (the owner only) to a sensor and makes it
// live in the hub. After the first call for a sensor it costs a map lookup.
func (s *Service) CheckPublish(ctx context.Context, v authz.Viewer, id string) error {
	e, err := s.check(ctx, v, id, authz.SensorPublish)
	if err != nil {
		return err
	}
	return s.ensureLive(ctx, id, e)
}

// ensureLive registers a stored sensor in the hub with its stored attributes, once.
func (s *Service) ensureLive(ctx context.Context, id string, e *entry) error {
	if e.live.Load() {
		return nil
	}
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	if e.live.Load() {
		return nil
	}
	row, err := s.db.Sensor.Query().Where(sensor.ID(id)).WithAttributes().Only(ctx)
	if ent.IsNotFound(err) {
		return apperr.NotFound("sensor not found")
	}
	if err != nil {
		return fmt.Errorf("load sensor %s: %w", id, err)
	}
	if _, err := s.hub.Register(id, specsOf(row.Edges.Attributes)); err != nil {
		return fmt.Errorf("make sensor %s live: %w", id, err)
	}
	s.syncRecording(id, row.RecordingEnabled)
	e.live.Store(true)
	return nil
}

// EnsureLive makes visible stored sensors live in the hub before a watch, so their
// stored attributes are known. The caller has checked visibility.
func (s *Service) EnsureLive(ctx context.Context, ids []string) error {
	for _, id := range ids {
		e, err := s.lookup(ctx, id)
		if err != nil {
			return err
		}
		if err := s.ensureLive(ctx, id, e); err != nil {
			return err
		}
	}
	return nil
}

// CheckAttribute returns NotFound unless the sensor, which the caller may see, has the
// attribute: declared, or seen in data. It makes a stored sensor live (its stored
// attributes known) and then costs a map lookup.
func (s *Service) CheckAttribute(ctx context.Context, sensorID, attrID string) error {
	e, err := s.lookup(ctx, sensorID)
	if err != nil {
		return err
	}
	if err := s.ensureLive(ctx, sensorID, e); err != nil {
		return err
	}
	if !s.hub.HasAttribute(sensorID, attrID) {
		return apperr.NotFound("sensor %s has no attribute %q", sensorID, attrID)
	}
	return nil
}

func specsOf(attrs []*ent.SensorAttribute) []hub.AttributeSpec {
	specs := make([]hub.AttributeSpec, 0, len(attrs))
	for _, a := range attrs {
		spec := hub.AttributeSpec{ID: a.AttributeID, Type: a.AttributeType, Unit: a.Unit}
		if a.SampleRateHz != nil {
			spec.SampleRateHz = *a.SampleRateHz
		}
		specs = append(specs, spec)
	}
	return specs
}

// Ingest hands a batch of a sensor the caller may publish to (CheckPublish) to the
// hub, queues it for recording when the sensor's recording is on (a map lookup, then
// a copy into the recorder's bounded queue), and records the time of its data. See
// hub.Ingest for ownership of b.
func (s *Service) Ingest(sensorID string, b *hub.Batch) (int, error) {
	n, err := s.hub.Ingest(sensorID, b)
	if err != nil {
		return 0, fmt.Errorf("ingest: %w", err)
	}
	if s.rec != nil && s.isRecording(sensorID) {
		s.record(sensorID, b)
	}
	s.mu.RLock()
	e := s.cache[sensorID]
	s.mu.RUnlock()
	if e != nil {
		e.lastSeen.Store(s.now().UnixMicro())
	}
	return n, nil
}

// Attach counts an open connector session of a sensor; the first one announces
// EventConnected to its watchers, and the returned detach (call it once) announces
// EventDisconnected when the last one ends.
func (s *Service) Attach(sensorID string) (detach func()) {
	s.mu.RLock()
	e := s.cache[sensorID]
	s.mu.RUnlock()
	if e == nil {
		return func() {}
	}
	if e.streams.Add(1) == 1 {
		_ = s.hub.Notify(sensorID, hub.EventConnected) // not live (deleted meanwhile): nobody to tell
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if e.streams.Add(-1) == 0 {
				_ = s.hub.Notify(sensorID, hub.EventDisconnected)
			}
		})
	}
}

// Connected reports whether a connector streams for the sensor now (an open
// Stream, or data within ConnectedWindow), from memory.
func (s *Service) Connected(sensorID string) bool {
	s.mu.RLock()
	e := s.cache[sensorID]
	s.mu.RUnlock()
	now := s.now().UnixMicro()
	if e == nil {
		return s.connectedRemote(sensorID, now)
	}
	return e.streams.Load() > 0 || now-e.lastSeen.Load() < ConnectedWindow.Microseconds() ||
		now-e.remoteSeen.Load() < ConnectedWindow.Microseconds() || s.connectedRemote(sensorID, now)
}

// connectedRemote reports whether another node announced the sensor connected to it
// within remoteConnTTL.
func (s *Service) connectedRemote(sensorID string, now int64) bool {
	ttl := s.remoteConnTTL.Load()
	if ttl == 0 {
		return false // a single node: nobody announces
	}
	s.remoteConnMu.Lock()
	at, ok := s.remoteConn[sensorID]
	s.remoteConnMu.Unlock()
	return ok && now-at < ttl
}

// SeenConnectedRemote records that another node announced the sensors connected to
// it just now: Connected counts them for ttl (the announcements repeat well within
// it, so they lapse with the node), ConnectedCount does not. Ids are bounded by the
// caller (live/connected.go).
func (s *Service) SeenConnectedRemote(ids []string, ttl time.Duration) {
	now := s.now().UnixMicro()
	s.remoteConnTTL.Store(ttl.Microseconds())
	s.remoteConnMu.Lock()
	defer s.remoteConnMu.Unlock()
	if s.remoteConn == nil {
		s.remoteConn = make(map[string]int64, len(ids))
	}
	for _, id := range ids {
		s.remoteConn[id] = now
	}
}

// ForgetConnectedRemote drops the announcements that lapsed (the announcing loop
// calls it), so the set holds only what other nodes still announce.
func (s *Service) ForgetConnectedRemote() {
	ttl := s.remoteConnTTL.Load()
	cut := s.now().UnixMicro() - ttl
	s.remoteConnMu.Lock()
	defer s.remoteConnMu.Unlock()
	for id, at := range s.remoteConn {
		if at <= cut {
			delete(s.remoteConn, id)
		}
	}
}

// ConnectedIDs returns the sensors connected to this node (what ConnectedCount
// counts), for the other nodes of a cluster.
func (s *Service) ConnectedIDs() []string {
	cut := s.now().UnixMicro() - ConnectedWindow.Microseconds()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for id, e := range s.cache {
		if e.streams.Load() > 0 || e.lastSeen.Load() > cut {
			out = append(out, id)
		}
	}
	return out
}

// SeenRemote records that another node of the cluster ingested data of the sensor, or
// that its connector connected there, just now: Connected counts it for
// ConnectedWindow, as this node's own data; ConnectedCount (the sensors connected to
// this node) does not. This node learns it while one of its watchers follows the
// sensor (live/remote.go).
func (s *Service) SeenRemote(sensorID string) {
	s.mu.RLock()
	e := s.cache[sensorID]
	s.mu.RUnlock()
	if e != nil {
		e.remoteSeen.Store(s.now().UnixMicro())
	}
}

// ConnectedCount counts sensors with an open Stream or data within ConnectedWindow.
func (s *Service) ConnectedCount() int64 {
	cut := s.now().UnixMicro() - ConnectedWindow.Microseconds()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n int64
	for _, e := range s.cache {
		if e.streams.Load() > 0 || e.lastSeen.Load() > cut {
			n++
		}
	}
	return n
}
