package app_test

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/accounts"
	"github.com/sensocto/sensocto/server/internal/app"
	"github.com/sensocto/sensocto/server/internal/config"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// stoppable is a running app that the test stops itself (a restart), unlike
// startServer's, which runs until the test ends.
type stoppable struct {
	url     string
	stopped bool
	stop    func(t *testing.T)
}

// startStoppable starts an app on a loopback port on the database at dbURL; stop
// shuts it down the way SIGTERM does (server first, then App.Close, which flushes
// the recording queue before the database closes).
func startStoppable(t *testing.T, dbURL string) *stoppable {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	u := "http://" + ln.Addr().String()
	vars := map[string]string{
		"SENSOCTO_DATA_DIR":     t.TempDir(),
		"SENSOCTO_DATABASE_URL": dbURL,
		"SENSOCTO_LOG_LEVEL":    "warn",
		"SENSOCTO_LOG_FORMAT":   "json",
		"SENSOCTO_PUBLIC_URL":   u,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		cancel()
		t.Fatalf("load config: %v", err)
	}
	a, err := app.New(ctx, cfg, dbtest.Logger(t), app.WithPasswordParams(accounts.TestPasswordParams))
	if err != nil {
		cancel()
		t.Fatalf("new app: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &stoppable{url: u}
	s.stop = func(t *testing.T) {
		if s.stopped {
			return
		}
		s.stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// session is what the recording test sends: ECG blocks and single measurements.
type session struct {
	ecgTimes  []int64
	ecgValues []float32
	hr        []*sensoctov1.Measurement
	acc       []*sensoctov1.Measurement
	ecgMin    float64
	ecgMax    float64
}

const (
	ecgRate   = 250
	ecgBlocks = 40 // of 64 samples: 2,560 samples, 10.24 s
	hrCount   = 300
)

// publishSession publishes a deterministic session through the API, in several
// batches, and returns what was sent.
func publishSession(t *testing.T, c sensoctov1connect.SensorServiceClient, id string, base int64) session {
	t.Helper()
	var s session
	s.ecgMin, s.ecgMax = math.Inf(1), math.Inf(-1)
	stepUS := int64(1_000_000 / ecgRate)
	for b := range ecgBlocks {
		start := base + int64(b*64)*stepUS
		blk := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: start, SampleRateHz: ecgRate, Samples: make([]float32, 64)}
		for i := range blk.Samples {
			n := b*64 + i
			v := float32(math.Sin(float64(n)/9)) * 1.5
			switch n {
			case 1234:
				v = 7.25 // a single spike: the global max
			case 2001:
				v = -6.5 // the global min
			}
			blk.Samples[i] = v
			s.ecgTimes = append(s.ecgTimes, apirules.SampleTimeUS(start, i, ecgRate))
			s.ecgValues = append(s.ecgValues, v)
			s.ecgMin = math.Min(s.ecgMin, float64(v))
			s.ecgMax = math.Max(s.ecgMax, float64(v))
		}
		req := &sensoctov1.PublishRequest{SensorId: id, Blocks: []*sensoctov1.SampleBlock{blk}}
		// Interleave single measurements with the blocks.
		for k := range hrCount / ecgBlocks {
			n := b*(hrCount/ecgBlocks) + k
			tm := base + int64(n)*33_333 + 7 // not on any grid
			m := num("hr", tm, 60+float64(n%37)+0.125)
			s.hr = append(s.hr, m)
			a := &sensoctov1.Measurement{AttributeId: "acc", TimeUs: tm, Value: &sensoctov1.Measurement_Vector3{
				Vector3: &sensoctov1.Vector3{X: float64(n), Y: -0.5, Z: 9.81},
			}}
			s.acc = append(s.acc, a)
			req.Measurements = append(req.Measurements, m, a)
		}
		res, err := c.Publish(t.Context(), req)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if want := uint64(64 + 2*(hrCount/ecgBlocks)); res.GetAccepted() != want {
			t.Fatalf("accepted %d, want %d", res.GetAccepted(), want)
		}
	}
	return s
}

// rawHistory pages through the raw history of an attribute.
func rawHistory(t *testing.T, c sensoctov1connect.SensorServiceClient, id, attr string, page uint32) []*sensoctov1.HistoryPoint {
	t.Helper()
	var out []*sensoctov1.HistoryPoint
	req := &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: attr, MaxPoints: page, Raw: true}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("raw paging does not end")
		}
		res, err := c.GetHistory(t.Context(), req)
		if err != nil {
			t.Fatalf("GetHistory %s raw: %v", attr, err)
		}
		if res.GetDownsampled() {
			t.Fatalf("raw page marked downsampled")
		}
		out = append(out, res.GetPoints()...)
		if res.GetNextPageToken() == "" {
			if res.GetTotalCount() != uint64(len(out)) {
				t.Fatalf("%s: total_count %d, paged %d", attr, res.GetTotalCount(), len(out))
			}
			return out
		}
		req = &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: attr, MaxPoints: page, PageToken: res.GetNextPageToken()}
	}
}

// exportCSV downloads /export/csv with the token and returns the status and rows
// (without the header).
func exportCSV(t *testing.T, base, token, sensorID, attr string) (int, [][]string) {
	t.Helper()
	q := url.Values{"sensor_id": {sensorID}, "attribute_id": {attr}, "from_us": {"0"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/export/csv?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, nil
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatalf("read csv: %v", err)
	}
	if len(rows) == 0 {
		t.Fatal("csv without header")
	}
	return res.StatusCode, rows[1:]
}

// TestRecordRestartGetBackExactly records a session published through the API,
// stops the server like SIGTERM does, starts a new one on the same database, and
// gets back exactly the samples sent (count, values, timestamps) through raw
// GetHistory paging and /export/csv; downsampled history keeps the global extremes;
// recording stays on across the restart; the export needs a credential that may
// see the sensor.
func TestRecordRestartGetBackExactly(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			srv := startStoppable(t, dbURL)
			token := signInGuest(t, srv.url)
			sc := sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
			id := newSensorID("rec")
			register(t, sc, id,
				&sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: ecgRate},
				&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
			// Data before recording is switched on is not recorded.
			if _, err := sc.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1_000_000, 1)}}); err != nil {
				t.Fatal(err)
			}
			res, err := sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true})
			if err != nil {
				t.Fatalf("SetRecording: %v", err)
			}
			if !res.GetSensor().GetRecording() {
				t.Fatal("SetRecording answered a sensor that does not record")
			}
			base := time.Now().Add(-time.Hour).Truncate(time.Second).UnixMicro()
			sent := publishSession(t, sc, id, base)
			srv.stop(t) // flushes the queue before the database closes

			srv = startStoppable(t, dbURL)
			sc = sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
			got, err := sc.GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: id})
			if err != nil {
				t.Fatal(err)
			}
			if !got.GetSensor().GetRecording() {
				t.Fatal("recording is off after a restart")
			}
			checkSession(t, sc, srv.url, token, id, sent)

			// Recording survives the restart: data published now is recorded too
			// (seen after one more restart, when the hub's window is empty).
			late := num("hr", base+20_000_000, 99.5)
			if _, err := sc.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{late}}); err != nil {
				t.Fatal(err)
			}
			srv.stop(t)
			srv = startStoppable(t, dbURL)
			sc = sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
			sent.hr = append(sent.hr, late)
			checkSession(t, sc, srv.url, token, id, sent)

			checkExportAuth(t, srv.url, token, id)
		})
	}
}

func checkSession(t *testing.T, sc sensoctov1connect.SensorServiceClient, base, token, id string, sent session) {
	t.Helper()
	ecg := rawHistory(t, sc, id, "ecg", 500)
	if len(ecg) != len(sent.ecgValues) {
		t.Fatalf("ecg: %d samples back, sent %d", len(ecg), len(sent.ecgValues))
	}
	for i, p := range ecg {
		if p.GetTimeUs() != sent.ecgTimes[i] || p.GetNumber() != float64(sent.ecgValues[i]) || p.GetCount() != 1 {
			t.Fatalf("ecg[%d] = %d %v ×%d, sent %d %v", i, p.GetTimeUs(), p.GetNumber(), p.GetCount(), sent.ecgTimes[i], sent.ecgValues[i])
		}
	}
	hr := rawHistory(t, sc, id, "hr", 77)
	if len(hr) != len(sent.hr) {
		t.Fatalf("hr: %d values back, sent %d (a value sent before recording was on must not be there)", len(hr), len(sent.hr))
	}
	for i, p := range hr {
		if p.GetTimeUs() != sent.hr[i].GetTimeUs() || p.GetNumber() != sent.hr[i].GetNumber() {
			t.Fatalf("hr[%d] = %d %v, sent %d %v", i, p.GetTimeUs(), p.GetNumber(), sent.hr[i].GetTimeUs(), sent.hr[i].GetNumber())
		}
	}
	acc := rawHistory(t, sc, id, "acc", 1000)
	if len(acc) != len(sent.acc) {
		t.Fatalf("acc: %d values back, sent %d", len(acc), len(sent.acc))
	}
	for i, p := range acc {
		w := sent.acc[i]
		v := p.GetVector3()
		if p.GetTimeUs() != w.GetTimeUs() || v.GetX() != w.GetVector3().GetX() || v.GetY() != w.GetVector3().GetY() || v.GetZ() != w.GetVector3().GetZ() {
			t.Fatalf("acc[%d] = %d %v, sent %d %v", i, p.GetTimeUs(), v, w.GetTimeUs(), w.GetVector3())
		}
	}

	// Downsampled: the global min and max survive.
	ds, err := sc.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "ecg", MaxPoints: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.GetDownsampled() || len(ds.GetPoints()) > 50 || ds.GetTotalCount() != uint64(len(sent.ecgValues)) {
		t.Fatalf("downsampled: %v, %d points, total %d", ds.GetDownsampled(), len(ds.GetPoints()), ds.GetTotalCount())
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var count uint64
	for _, p := range ds.GetPoints() {
		lo, hi = math.Min(lo, p.GetMin()), math.Max(hi, p.GetMax())
		count += uint64(p.GetCount())
	}
	if lo != sent.ecgMin || hi != sent.ecgMax || count != uint64(len(sent.ecgValues)) {
		t.Fatalf("downsampled min %v max %v count %d, sent min %v max %v count %d", lo, hi, count, sent.ecgMin, sent.ecgMax, len(sent.ecgValues))
	}

	// The CSV export has the same samples.
	status, rows := exportCSV(t, base, token, id, "ecg")
	if status != http.StatusOK || len(rows) != len(sent.ecgValues) {
		t.Fatalf("export ecg: status %d, %d rows, want %d", status, len(rows), len(sent.ecgValues))
	}
	for i, r := range rows {
		tm, err1 := strconv.ParseInt(r[1], 10, 64)
		v, err2 := strconv.ParseFloat(r[5], 64)
		ts, err3 := time.Parse(time.RFC3339Nano, r[0])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("export row %d %q: %v", i, r, err)
		}
		if tm != sent.ecgTimes[i] || v != float64(sent.ecgValues[i]) || ts.UnixMicro() != tm || r[3] != id || r[4] != "ecg" {
			t.Fatalf("export row %d = %q, sent %d %v", i, r, sent.ecgTimes[i], sent.ecgValues[i])
		}
	}
	status, rows = exportCSV(t, base, token, id, "hr")
	if status != http.StatusOK || len(rows) != len(sent.hr) {
		t.Fatalf("export hr: status %d, %d rows, want %d", status, len(rows), len(sent.hr))
	}
	for i, r := range rows {
		if r[1] != strconv.FormatInt(sent.hr[i].GetTimeUs(), 10) || r[5] != strconv.FormatFloat(sent.hr[i].GetNumber(), 'g', -1, 64) {
			t.Fatalf("export hr row %d = %q, sent %v", i, r, sent.hr[i])
		}
	}
}

// checkExportAuth: no credential → 401; a bad token → 401; someone who may not see
// the sensor, or an unknown sensor → 404; a publish-only token → 403; a session
// cookie works like a bearer.
func checkExportAuth(t *testing.T, base, token, id string) {
	t.Helper()
	other := signInGuest(t, base)
	pub, err := sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), base).CreateApiToken(t.Context(),
		&sensoctov1.CreateApiTokenRequest{Name: "connector", Scope: sensoctov1.TokenScope_TOKEN_SCOPE_PUBLISH})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, sensor string
		want                int
	}{
		{"no credential", "", id, http.StatusUnauthorized},
		{"bad token", "sst_nope", id, http.StatusUnauthorized},
		{"another user", other, id, http.StatusNotFound},
		{"unknown sensor", token, "no-such-sensor", http.StatusNotFound},
		{"publish scope", pub.GetSecret(), id, http.StatusForbidden},
		{"owner", token, id, http.StatusOK},
	} {
		if got, _ := exportCSV(t, base, tc.token, tc.sensor, "ecg"); got != tc.want {
			t.Errorf("export as %s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/export/csv?sensor_id="+id+"&attribute_id=ecg", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "sensocto_session", Value: token})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("export with the session cookie: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestSetRecordingRetentionAndDelete: SetRecording stores the retention and turns
// recording off again; deleting a sensor deletes its recorded data.
func TestSetRecordingRetentionAndDelete(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	token := signInGuest(t, srv.url)
	sc := sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
	id := newSensorID("recdel")
	register(t, sc, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
	res, err := sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true, Retention: durationpb.New(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.GetSensor().GetRecording() || res.GetSensor().GetRecordingRetention().AsDuration() != 48*time.Hour {
		t.Fatalf("after SetRecording on: %v", res.GetSensor())
	}
	if _, err := sc.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+5_000_000, 61)}}); err != nil {
		t.Fatal(err)
	}
	res, err = sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetSensor().GetRecording() {
		t.Fatal("recording still on")
	}
	if _, err := sc.DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("history of a deleted sensor: %v", err)
	}
}
