package sensors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/recording"
)

// RecordingRefresh is how often RunRecording reloads the set of recording sensors
// from the database (so a SetRecording on another node reaches this one).
const RecordingRefresh = 30 * time.Second

// UseRecorder makes the service record the data of sensors whose recording is on,
// answer history from the recorder (recorded rows merged with the hub's window), and
// delete a deleted sensor's recorded data. Call it once, before the service is used;
// then LoadRecording.
func (s *Service) UseRecorder(r *recording.Recorder) {
	s.rec = r
}

// recordingSet is the immutable set of sensors whose recording is on; it is
// replaced, never changed, so the ingest path reads it without a lock.
type recordingSet map[string]struct{}

// recordingState holds the set and a version that orders replacements.
type recordingState struct {
	mu      sync.Mutex // serialises replacements
	version uint64     // bumped by every SetRecording and Delete
}

// LoadRecording reads which sensors record from the database. Call it at start
// (after UseRecorder); RunRecording repeats it.
func (s *Service) LoadRecording(ctx context.Context) error {
	if s.rec == nil {
		return nil
	}
	s.recState.mu.Lock()
	version := s.recState.version
	s.recState.mu.Unlock()
	ids, err := s.rec.RecordingSensors(ctx)
	if err != nil {
		return fmt.Errorf("load recording sensors: %w", err)
	}
	set := make(recordingSet, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	s.recState.mu.Lock()
	defer s.recState.mu.Unlock()
	if s.recState.version == version { // else a local change raced the read: keep it
		s.recSet.Store(&set)
	}
	return nil
}

// RunRecording reloads the set of recording sensors every RecordingRefresh until ctx
// ends. The caller owns the goroutine.
func (s *Service) RunRecording(ctx context.Context) error {
	if s.rec == nil {
		return nil
	}
	t := time.NewTicker(RecordingRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.LoadRecording(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("reload recording sensors")
		}
	}
}

// setRecordingFlag changes one sensor's membership of the set.
func (s *Service) setRecordingFlag(id string, on bool) {
	s.recState.mu.Lock()
	defer s.recState.mu.Unlock()
	s.recState.version++
	old := s.recSet.Load()
	next := make(recordingSet, 1)
	if old != nil {
		next = make(recordingSet, len(*old)+1)
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	if on {
		next[id] = struct{}{}
	} else {
		delete(next, id)
	}
	s.recSet.Store(&next)
}

// syncRecording takes a sensor's recording flag as just read from the database (a
// registration or a sensor made live here, e.g. a simulator run or a connector that
// moved from another node): this node records it from its first batch, not only
// after the next RunRecording reload.
func (s *Service) syncRecording(id string, on bool) {
	if s.rec != nil && s.isRecording(id) != on {
		s.setRecordingFlag(id, on)
	}
}

// isRecording reports whether a sensor's data is recorded: one map lookup.
func (s *Service) isRecording(id string) bool {
	set := s.recSet.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[id]
	return ok
}

// recordScratch is the per-batch scratch of the recording path.
type recordScratch struct {
	values  []recording.Value
	payload []byte
}

var recordPool = sync.Pool{New: func() any { return &recordScratch{} }}

// record queues an ingested batch (times and server times stamped by the hub) for
// recording. It never waits for I/O.
func (s *Service) record(sensorID string, b *hub.Batch) {
	if len(b.Measurements) > 0 {
		sc := recordPool.Get().(*recordScratch)
		for i := range b.Measurements {
			m := &b.Measurements[i]
			v := recording.Value{
				SensorID: sensorID, AttributeID: m.AttributeID, TimeUS: m.TimeUS, ServerTimeUS: m.ServerUS,
				Kind: recording.Kind(m.Value.Kind),
			}
			if m.Value.Kind == hub.KindNumber {
				v.Number = m.Value.F[0]
			} else {
				off := len(sc.payload)
				sc.payload = appendPayload(sc.payload, &m.Value)
				v.Payload = sc.payload[off:len(sc.payload):len(sc.payload)]
			}
			sc.values = append(sc.values, v)
		}
		s.rec.EnqueueValues(sc.values)
		clear(sc.values)
		sc.values, sc.payload = sc.values[:0], sc.payload[:0]
		recordPool.Put(sc)
	}
	for i := range b.Blocks {
		blk := &b.Blocks[i]
		s.rec.EnqueueBlock(recording.Block{
			SensorID: sensorID, AttributeID: blk.AttributeID, StartUS: blk.StartTimeUS,
			ServerTimeUS: blk.ServerUS, RateHz: blk.SampleRateHz, Samples: blk.Samples,
		})
	}
}

// appendPayload appends the JSON form of a non-number value: vector3 {"x","y","z"},
// quaternion {"w","x","y","z"}, geo {"latitude","longitude",["altitude","accuracy",
// "speed","heading"]}, text a JSON string, struct its protobuf JSON.
func appendPayload(b []byte, v *hub.Value) []byte {
	num := func(b []byte, name string, f float64, first bool) []byte {
		if !first {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	switch v.Kind {
	case hub.KindVec3:
		b = append(b, '{')
		b = num(b, "x", v.F[0], true)
		b = num(b, "y", v.F[1], false)
		b = num(b, "z", v.F[2], false)
		return append(b, '}')
	case hub.KindQuat:
		b = append(b, '{')
		b = num(b, "w", v.F[0], true)
		b = num(b, "x", v.F[1], false)
		b = num(b, "y", v.F[2], false)
		b = num(b, "z", v.F[3], false)
		return append(b, '}')
	case hub.KindGeo:
		b = append(b, '{')
		b = num(b, "latitude", v.F[0], true)
		b = num(b, "longitude", v.F[1], false)
		if v.Has&hub.HasAltitude != 0 {
			b = num(b, "altitude", v.F[2], false)
		}
		if v.Has&hub.HasAccuracy != 0 {
			b = num(b, "accuracy", v.F[3], false)
		}
		if v.Ext != nil && v.Has&hub.HasSpeed != 0 {
			b = num(b, "speed", v.Ext.Speed, false)
		}
		if v.Ext != nil && v.Has&hub.HasHeading != 0 {
			b = num(b, "heading", v.Ext.Heading, false)
		}
		return append(b, '}')
	case hub.KindText:
		if v.Ext == nil {
			return append(b, `""`...)
		}
		q, _ := json.Marshal(v.Ext.Text) // a string always marshals
		return append(b, q...)
	case hub.KindStruct:
		st, err := v.DecodeStruct()
		if err != nil {
			return append(b, "{}"...)
		}
		j, err := protojson.Marshal(st)
		if err != nil {
			return append(b, "{}"...)
		}
		return append(b, j...)
	}
	return append(b, "null"...)
}

// decodePayload turns a recorded payload back into a hub value.
func decodePayload(k hub.Kind, p []byte) hub.Value {
	var f struct {
		X, Y, Z, W          float64
		Latitude, Longitude float64
		Altitude, Accuracy  *float64
		Speed, Heading      *float64
	}
	switch k {
	case hub.KindVec3, hub.KindQuat, hub.KindGeo:
		_ = json.Unmarshal(p, &f) // a bad payload reads as zeros
	case hub.KindText:
		var t string
		_ = json.Unmarshal(p, &t)
		return hub.Text(t)
	case hub.KindStruct:
		return decodeStruct(p)
	default:
		return hub.Value{Kind: k}
	}
	switch k {
	case hub.KindVec3:
		return hub.Vec3(f.X, f.Y, f.Z)
	case hub.KindQuat:
		return hub.Quat(f.W, f.X, f.Y, f.Z)
	}
	v := hub.Geo(f.Latitude, f.Longitude)
	if f.Altitude != nil {
		v.Has |= hub.HasAltitude
		v.F[2] = *f.Altitude
	}
	if f.Accuracy != nil {
		v.Has |= hub.HasAccuracy
		v.F[3] = *f.Accuracy
	}
	if f.Speed != nil || f.Heading != nil {
		v.Ext = &hub.Ext{}
		if f.Speed != nil {
			v.Has |= hub.HasSpeed
			v.Ext.Speed = *f.Speed
		}
		if f.Heading != nil {
			v.Has |= hub.HasHeading
			v.Ext.Heading = *f.Heading
		}
	}
	return v
}

// recordedHistory answers a history request from the recorder, with the hub's
// window as the recent part. The caller has checked the view right.
func (s *Service) recordedHistory(ctx context.Context, req HistoryRequest, w *Window) (History, error) {
	var recent []recording.Point
	var typ string
	if w != nil {
		recent, typ = toRecent(w.Points), w.Type
	} else {
		recent, typ = s.recentPoints(req.SensorID, req.AttributeID, req.FromUS, req.ToUS)
	}
	res, err := s.rec.Query(ctx, recording.HistoryRequest{
		SensorID: req.SensorID, AttributeID: req.AttributeID, FromUS: req.FromUS, ToUS: req.ToUS,
		MaxPoints: req.MaxPoints, Raw: req.Raw, PageToken: req.PageToken, Recent: recent,
	})
	if err != nil {
		return History{}, fmt.Errorf("history of %s/%s: %w", req.SensorID, req.AttributeID, err)
	}
	h := History{
		Downsampled: res.Downsampled, TotalCount: res.TotalCount, NextPageToken: res.NextPageToken,
		AttributeType: typ, Points: make([]hub.Bucket, len(res.Points)),
	}
	for i := range res.Points {
		p := &res.Points[i]
		bk := hub.Bucket{TimeUS: p.TimeUS, Min: p.Min, Max: p.Max, Count: p.Count}
		if p.Kind == recording.KindNumber {
			bk.Value = hub.Number(p.Number)
		} else {
			bk.Value = decodePayload(hub.Kind(p.Kind), p.Payload)
		}
		h.Points[i] = bk
	}
	return h, nil
}

// recentPoints returns the hub's in-memory window of an attribute in [from, to) as
// recording points (structured values in their recorded encoding), and its type.
func (s *Service) recentPoints(sensorID, attributeID string, from, to int64) ([]recording.Point, string) {
	points, typ, err := s.hub.History(sensorID, attributeID, from, to, 0)
	if err != nil {
		// Not live or not in the hub (an attribute known only from recorded data):
		// no in-memory window.
		return nil, ""
	}
	return toRecent(points), typ
}

// toRecent converts in-memory points to recording points (structured values in their
// recorded encoding).
func toRecent(points []hub.Point) []recording.Point {
	recent := make([]recording.Point, len(points))
	for i, p := range points {
		rp := recording.Point{TimeUS: p.TimeUS, ServerTimeUS: p.ServerUS, Kind: recording.Kind(p.Value.Kind), Count: 1}
		if p.Value.Kind == hub.KindNumber {
			rp.Number, rp.Min, rp.Max = p.Value.F[0], p.Value.F[0], p.Value.F[0]
		} else {
			rp.Payload = appendPayload(nil, &p.Value)
		}
		recent[i] = rp
	}
	return recent
}

// ExportCSV writes an attribute's data in [fromUS, toUS) (toUS 0: no end) as CSV:
// what History shows, recorded data merged with the in-memory window (see
// recording.Recorder.ExportCSV). The caller has checked CheckExport.
func (s *Service) ExportCSV(ctx context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64) (int64, error) {
	if s.rec == nil {
		return 0, apperr.FailedPrecondition("exports need the recorder")
	}
	if err := s.EnsureLive(ctx, []string{sensorID}); err != nil {
		return 0, err
	}
	recent, _ := s.recentPoints(sensorID, attributeID, fromUS, toUS)
	n, err := s.rec.ExportCSV(ctx, w, sensorID, attributeID, fromUS, toUS, recent)
	if err != nil {
		return n, fmt.Errorf("export %s/%s: %w", sensorID, attributeID, err)
	}
	return n, nil
}

// CheckExport applies the view rule for an export of recorded data: only a
// credential of full scope may read data this way.
func (s *Service) CheckExport(ctx context.Context, v authz.Viewer, id string) error {
	if v.Scope != authz.ScopeFull {
		return fmt.Errorf("export: %w", errScopeExport)
	}
	return s.CheckView(ctx, v, id)
}

var errScopeExport = apperr.PermissionDenied("this token's scope does not allow reading recorded data")

// decodeStruct turns a recorded struct payload (its JSON) back into a struct value;
// one that does not decode reads as an empty struct.
func decodeStruct(p []byte) hub.Value {
	var st structpb.Struct
	if protojson.Unmarshal(p, &st) != nil {
		st.Reset()
	}
	v, err := hub.EncodeStruct(&st)
	if err != nil {
		return hub.StructValue(hub.Struct{})
	}
	return v
}
