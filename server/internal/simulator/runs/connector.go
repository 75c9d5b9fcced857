package runs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/backpressure"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/latest"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/simulator"
	"github.com/sensocto/sensocto/server/internal/simulator/generate"
)

// SensorType is the sensor type of simulated sensors (as the original's simulator).
const SensorType = "simulator"

// connector is the simulator.Publisher of one run: simulated sensors are ordinary
// connectors of the run's owner. They register through the sensor registry (so
// the owner checks apply), publish through the same ingest path as the
// SensorService handlers (CheckPublish, then Ingest), count as connected while
// the run runs (Attach), and follow the back-pressure advice of their sensor.
type connector struct {
	sensors   *sensors.Service
	bp        *backpressure.Publisher
	viewer    authz.Viewer
	public    bool
	onPublish func(sensorID string, values int)
	// names are the sensors' display names by id (Scenario.SensorTitles: scenario
	// title and person, unique in a lobby); a sensor missing here keeps the scenario's.
	names map[string]string

	mu      sync.Mutex
	detach  map[string]func()
	batches sync.Pool // *hub.Batch containers; the hub keeps only what it is given
}

func newConnector(s *sensors.Service, bp *backpressure.Publisher, v authz.Viewer, public bool, onPublish func(string, int)) *connector {
	c := &connector{sensors: s, bp: bp, viewer: v, public: public, onPublish: onPublish, detach: map[string]func(){}}
	c.batches.New = func() any { return new(hub.Batch) }
	return c
}

// Register registers (or re-registers) the sensor as the run's owner.
func (c *connector) Register(ctx context.Context, s simulator.SensorInfo) error {
	name := s.Name
	if n := c.names[s.ID]; n != "" {
		name = n
	}
	in := sensors.RegisterInput{ID: s.ID, Name: name, SensorType: SensorType, Visibility: authz.VisibilityPrivate}
	if c.public {
		in.Visibility = authz.VisibilityPublic
	}
	for _, a := range s.Attributes {
		in.Attributes = append(in.Attributes, sensors.Attribute{ID: a.ID, Type: a.Type, Unit: a.Unit, SampleRateHz: a.RateHz})
	}
	if _, err := c.sensors.Register(ctx, c.viewer, in); err != nil {
		return fmt.Errorf("register sensor %s: %w", s.ID, err)
	}
	detach := c.sensors.Attach(s.ID)
	c.mu.Lock()
	if old := c.detach[s.ID]; old != nil {
		old()
	}
	c.detach[s.ID] = detach
	c.mu.Unlock()
	return nil
}

// Unregister marks the sensor disconnected. The sensor stays registered (with its
// history), so a later run of the same scenario by the same owner continues it.
func (c *connector) Unregister(_ context.Context, sensorID string) error {
	c.mu.Lock()
	detach := c.detach[sensorID]
	delete(c.detach, sensorID)
	c.mu.Unlock()
	if detach != nil {
		detach()
	}
	return nil
}

// Publish converts the engine's batch into fresh hub values (the engine reuses
// out; the hub keeps what it is given) and ingests it after the same publish
// check as the SensorService.
func (c *connector) Publish(ctx context.Context, sensorID string, out *generate.Output) error {
	if err := c.sensors.CheckPublish(ctx, c.viewer, sensorID); err != nil {
		return fmt.Errorf("publish to %s: %w", sensorID, err)
	}
	b := c.batches.Get().(*hub.Batch) //nolint:forcetypeassert // the pool holds only *hub.Batch
	defer c.putBatch(b)
	if err := toBatch(b, out); err != nil {
		return err
	}
	n, err := c.sensors.Ingest(sensorID, b)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", sensorID, err)
	}
	if c.onPublish != nil {
		c.onPublish(sensorID, n)
	}
	return nil
}

func (c *connector) putBatch(b *hub.Batch) {
	clear(b.Measurements) // the hub owns the values now: drop our references
	clear(b.Blocks)
	b.Measurements, b.Blocks = b.Measurements[:0], b.Blocks[:0]
	c.batches.Put(b)
}

// Backpressure forwards the sensor's back-pressure configs, converted, into a
// one-slot mailbox holding the newest. The forwarding goroutine belongs to the
// subscription: cancel (or the sensor's deletion) ends it.
func (c *connector) Backpressure(sensorID string) (<-chan simulator.Config, func()) {
	sub := c.bp.Subscribe(sensorID)
	out := make(chan simulator.Config, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-sub.Done():
				return
			case cfg := <-sub.C():
				latest.Put(out, toConfig(cfg)) // this goroutine is out's only writer
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(stop)
			sub.Close()
			<-done
		})
	}
}

func toConfig(c backpressure.Config) simulator.Config {
	return simulator.Config{
		Window:    time.Duration(c.RecommendedBatchWindowMS) * time.Millisecond,
		BatchSize: int(c.RecommendedBatchSize),
		Paused:    c.Paused,
	}
}

// toBatch converts the engine's output into b with values the hub may keep:
// sample slices are copied, structs encoded (as the handlers do: the protobuf
// wire form of google.protobuf.Struct), events become the "event" extra.
func toBatch(b *hub.Batch, out *generate.Output) error {
	for i := range out.Samples {
		s := &out.Samples[i]
		m := hub.Measurement{AttributeID: s.AttributeID, TimeUS: s.TimeUS}
		switch s.Kind {
		case generate.KindNumber:
			m.Value = hub.Number(s.Number)
		case generate.KindVec3:
			m.Value = hub.Vec3(s.Vec[0].X, s.Vec[0].Y, s.Vec[0].Z)
		case generate.KindIMU:
			// One imu attribute holds both sensors, as one struct.
			st, err := encodeStruct(map[string]any{
				"accelerometer": map[string]any{"x": s.Vec[0].X, "y": s.Vec[0].Y, "z": s.Vec[0].Z},
				"gyroscope":     map[string]any{"x": s.Vec[1].X, "y": s.Vec[1].Y, "z": s.Vec[1].Z},
			})
			if err != nil {
				return err
			}
			m.Value = st
		case generate.KindQuat:
			m.Value = hub.Quat(s.Quat.W, s.Quat.X, s.Quat.Y, s.Quat.Z)
		case generate.KindGeo:
			v := hub.Geo(s.Geo.Lat, s.Geo.Lng)
			v.Has = hub.HasAltitude | hub.HasAccuracy | hub.HasSpeed | hub.HasHeading
			v.F[2], v.F[3] = s.Geo.Alt, s.Geo.AccuracyM
			v.Ext = &hub.Ext{Speed: s.Geo.SpeedMPS, Heading: s.Geo.HeadingDeg}
			m.Value = v
		case generate.KindStruct:
			st, err := encodeStruct(s.Struct)
			if err != nil {
				return err
			}
			m.Value = st
		default:
			return fmt.Errorf("convert %s sample of %s: unknown kind", s.Kind, s.AttributeID)
		}
		if s.Event != "" {
			m.Extras = map[string]string{"event": s.Event}
		}
		b.Measurements = append(b.Measurements, m)
	}
	for i := range out.Blocks {
		blk := &out.Blocks[i]
		if len(blk.Samples) == 0 {
			continue
		}
		b.Blocks = append(b.Blocks, hub.SampleBlock{
			AttributeID: blk.AttributeID, StartTimeUS: blk.StartUS, SampleRateHz: blk.RateHz,
			Samples: append([]float32(nil), blk.Samples...), // the engine reuses its buffer
		})
	}
	return nil
}

func encodeStruct(m map[string]any) (hub.Value, error) {
	st, err := structpb.NewStruct(m)
	if err != nil {
		return hub.Value{}, fmt.Errorf("encode struct value: %w", err)
	}
	return hub.EncodeStruct(st) //nolint:wrapcheck // says what failed
}
