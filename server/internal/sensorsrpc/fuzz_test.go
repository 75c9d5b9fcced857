package sensorsrpc

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/recording"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// publishSeeds are PublishRequests of every value kind, good and bad.
func publishSeeds(tb testing.TB) []*sensoctov1.PublishRequest {
	tb.Helper()
	st := func(m map[string]any) *sensoctov1.Measurement {
		s, err := structpb.NewStruct(m)
		if err != nil {
			tb.Fatal(err)
		}
		return &sensoctov1.Measurement{AttributeId: "doc", Value: &sensoctov1.Measurement_StructValue{StructValue: s}}
	}
	n := func(attr string, t int64, v float64) *sensoctov1.Measurement {
		return &sensoctov1.Measurement{AttributeId: attr, TimeUs: t, Value: &sensoctov1.Measurement_Number{Number: v}}
	}
	t0 := time.Now().Add(-time.Hour).UnixMicro()
	alt := 34.5
	return []*sensoctov1.PublishRequest{
		{Measurements: []*sensoctov1.Measurement{n("hr", t0, 72), n("hr", 0, 73), n("temp", t0+1, 21.5)}},
		{Blocks: []*sensoctov1.SampleBlock{{AttributeId: "ecg", StartTimeUs: t0, SampleRateHz: 250, Samples: []float32{0.1, 0.5, -0.2, 1}}}},
		{Measurements: []*sensoctov1.Measurement{
			st(map[string]any{"level": 50.0, "cells": []any{1.0, map[string]any{"v": -3.5}, nil, "x"}}),
			{AttributeId: "gps", Value: &sensoctov1.Measurement_Geo{Geo: &sensoctov1.GeoPosition{Latitude: 47.4, Longitude: 8.5, AltitudeM: &alt}}},
			{AttributeId: "acc", Value: &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{X: 1, Y: 2, Z: 3}}},
			{AttributeId: "rot", Value: &sensoctov1.Measurement_Quaternion{Quaternion: &sensoctov1.Quaternion{W: 1}}},
			{AttributeId: "note", Value: &sensoctov1.Measurement_Text{Text: `say "hi", then`}, Extras: map[string]string{"event": "press"}},
		}},
		// refused
		{Measurements: []*sensoctov1.Measurement{n("hr", t0, 1), st(map[string]any{"a": []any{1.0, math.NaN()}})}},
		{Blocks: []*sensoctov1.SampleBlock{{AttributeId: "ecg", StartTimeUs: t0, SampleRateHz: 1e-13, Samples: []float32{1, 2}}}},
		{Blocks: []*sensoctov1.SampleBlock{{AttributeId: "ecg", StartTimeUs: math.MaxInt64 - 10, SampleRateHz: 100, Samples: []float32{1, 2}}}},
		{Measurements: []*sensoctov1.Measurement{n("hr", math.MaxInt64, 1)}},
		{Measurements: []*sensoctov1.Measurement{{AttributeId: "hr", Value: &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{}}}}},
	}
}

// fuzzSeq numbers the sensors of a fuzz run: one fresh sensor per input.
var fuzzSeq atomic.Int64

// FuzzPublishPath runs fuzzed PublishRequests (Stream batches take the same path:
// Handler.ingest) through conversion, validation and ingest into the hub and the
// recorder (SQLite), then reads them back through history and CSV export, and checks:
// no panic; a refused batch is InvalidArgument and leaves nothing in the hub or the
// recording; an accepted batch comes back whole: every value and sample in history
// and in the CSV, each CSV value a number or valid JSON, every live value encodable
// as JSON for Watch.
func FuzzPublishPath(f *testing.F) {
	for _, req := range publishSeeds(f) {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	db := dbtest.Open(f, database.DialectSQLite)
	owner, err := db.Client.User.Create().SetDisplayName("fuzz").SetIsGuest(true).Save(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	h := hub.New(hub.Options{})
	svc := sensors.New(sensors.Options{Ent: db.Client, Hub: h, Logger: zerolog.Nop()})
	rec, err := recording.New(db, recording.Options{Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	svc.UseRecorder(rec)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req sensoctov1.PublishRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		id := fmt.Sprintf("fuzz-%d", fuzzSeq.Add(1))
		if _, err := db.Client.Sensor.Create().SetID(id).SetOwnerID(owner.ID).SetName(id).SetRecordingEnabled(true).Save(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := svc.LoadRecording(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Register(id, nil); err != nil {
			t.Fatal(err)
		}
		defer h.Delete(id)
		want := map[string]int{} // values per attribute the request carries
		for _, m := range req.GetMeasurements() {
			want[m.GetAttributeId()]++
		}
		for _, b := range req.GetBlocks() {
			want[b.GetAttributeId()] += len(b.GetSamples())
		}
		total := 0
		for _, n := range want {
			total += n
		}
		// What live.Service.Publish does after its checks: convert, then ingest.
		var accepted int
		var batch hub.Batch
		err := toBatch(&batch, req.GetMeasurements(), req.GetBlocks())
		if err == nil {
			accepted, err = svc.Ingest(id, &batch)
		}
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		info, gerr := h.Get(id)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalidArgument || accepted != 0 {
				t.Fatalf("refused with %v (%d accepted), want invalid_argument", err, accepted)
			}
			if len(info.Attributes) != 0 {
				t.Fatalf("a refused batch left attributes %+v", info.Attributes)
			}
			for attr := range want {
				if n := exportRows(t, rec, id, attr); n != 0 {
					t.Fatalf("a refused batch left %d recorded rows of %q", n, attr)
				}
			}
			return
		}
		if accepted != total {
			t.Fatalf("%d values accepted, the request holds %d", accepted, total)
		}
		for attr, n := range want {
			if got := exportRows(t, rec, id, attr); got != n {
				t.Fatalf("%q: %d rows exported, %d accepted", attr, got, n)
			}
			hist, err := rec.Query(t.Context(), recording.HistoryRequest{SensorID: id, AttributeID: attr, MaxPoints: 10})
			if err != nil {
				t.Fatalf("%q: history: %v", attr, err)
			}
			if hist.TotalCount != uint64(n) { //nolint:gosec // G115: a count
				t.Fatalf("%q: history counts %d values, %d accepted", attr, hist.TotalCount, n)
			}
		}
		recent, err := h.Recent(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recent.Measurements {
			m := &recent.Measurements[i]
			out := &sensoctov1.Measurement{AttributeId: m.AttributeID, TimeUs: m.TimeUS}
			setValue(out, &m.Value)
			if out.Value == nil {
				t.Fatalf("live %s value %+v does not convert", m.AttributeID, m.Value)
			}
			if _, err := protojson.Marshal(out); err != nil {
				t.Fatalf("live %s value does not encode as JSON: %v", m.AttributeID, err)
			}
		}
	})
}

// exportRows exports one attribute and checks every row has the header's columns.
func exportRows(t *testing.T, rec *recording.Recorder, id, attr string) int {
	t.Helper()
	var buf bytes.Buffer
	n, err := rec.ExportCSV(t.Context(), &buf, id, attr, 0, 0, nil)
	if err != nil {
		t.Fatalf("export %q: %v", attr, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export %q is not CSV: %v", attr, err)
	}
	if len(rows) != int(n)+1 {
		t.Fatalf("export %q: %d lines for %d rows", attr, len(rows), n)
	}
	for _, r := range rows[1:] {
		if len(r) != len(rows[0]) {
			t.Fatalf("export %q: row %q does not fit header %q", attr, r, rows[0])
		}
	}
	return int(n)
}

// FuzzIDs: the hub accepts a sensor id and an attribute id exactly when the proto's
// rules do (the ingest messages skip protovalidate, so the hub's own checks are the
// rules there). Room join codes do not exist yet; when they do, their parser belongs
// here too.
func FuzzIDs(f *testing.F) {
	for _, s := range []string{"", "a", "hr", "_x", "-x", "x-", "x_y-z9", "s:1.2", "é", "a b", "a\x00", "ü-1",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string) {
		protoErr := v.Validate(&sensoctov1.PublishRequest{SensorId: id})
		if hubErr := hub.CheckSensorID(id); (protoErr == nil) != (hubErr == nil) {
			t.Fatalf("sensor_id %q: proto rule says %v, hub says %v", id, protoErr, hubErr)
		}
		protoErr = v.Validate(&sensoctov1.Measurement{AttributeId: id, Value: &sensoctov1.Measurement_Number{Number: 1}})
		h := hub.New(hub.Options{})
		if _, err := h.Register("s", nil); err != nil {
			t.Fatal(err)
		}
		_, err := h.Ingest("s", &hub.Batch{Measurements: []hub.Measurement{{AttributeID: id, Value: hub.Number(1)}}})
		e, _ := apperr.As(err)
		refusedID := e != nil && len(e.Violations) == 1 && e.Violations[0].Field == "measurements[0].attribute_id"
		if refusedID != (protoErr != nil) {
			t.Fatalf("attribute_id %q: proto rule says %v, hub says %v", id, protoErr, err)
		}
	})
}
