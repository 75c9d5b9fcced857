package exporthttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/exporthttp"
	"github.com/sensocto/sensocto/server/internal/recording"
)

type fakeExporter struct {
	body string
	err  error
	got  []any
}

func (f *fakeExporter) ExportCSV(_ context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64) (int64, error) {
	f.got = []any{sensorID, attributeID, fromUS, toUS}
	if f.err != nil {
		return 0, f.err
	}
	_, err := io.WriteString(w, f.body)
	return 1, err
}

func TestExportHandler(t *testing.T) {
	t.Parallel()
	allow := func(*http.Request, string) error { return nil }
	tests := []struct {
		name      string
		method    string
		query     string
		authorize exporthttp.Authorize
		exportErr error
		status    int
		body      string
	}{
		{"ok", http.MethodGet, "sensor_id=s:1&attribute_id=ecg&from_us=10&to_us=20", allow, nil, 200, "csv"},
		{"open range", http.MethodGet, "sensor_id=s1&attribute_id=ecg", allow, nil, 200, "csv"},
		{"bad sensor", http.MethodGet, "sensor_id=&attribute_id=ecg", allow, nil, 400, "sensor_id"},
		{"sensor id with dots and colons", http.MethodGet, "sensor_id=s.1:a&attribute_id=ecg", allow, nil, 200, "csv"},
		{"sensor id starting with _ (no sensor can have it)", http.MethodGet, "sensor_id=_s.1&attribute_id=ecg", allow, nil, 400, "sensor_id"},
		{"bad range", http.MethodGet, "sensor_id=s1&attribute_id=ecg&from_us=20&to_us=10", allow, nil, 400, "to_us"},
		{"bad number", http.MethodGet, "sensor_id=s1&attribute_id=ecg&from_us=x", allow, nil, 400, "from_us"},
		{"unauthenticated", http.MethodGet, "sensor_id=s1&attribute_id=ecg", func(*http.Request, string) error {
			return apperr.Unauthenticated("sign in")
		}, nil, 401, "sign in"},
		{"forbidden", http.MethodGet, "sensor_id=s1&attribute_id=ecg", func(*http.Request, string) error {
			return apperr.PermissionDenied("not yours")
		}, nil, 403, "not yours"},
		{"store error hidden", http.MethodGet, "sensor_id=s1&attribute_id=ecg", allow, errors.New("pq: secret detail"), 500, "internal error"},
		{"post", http.MethodPost, "sensor_id=s1&attribute_id=ecg", allow, nil, 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := &fakeExporter{body: "csv", err: tc.exportErr}
			h := exporthttp.NewExportHandler(ex, tc.authorize, zerolog.Nop())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, exporthttp.ExportPath+"?"+tc.query, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) || strings.Contains(rec.Body.String(), "secret") {
				t.Fatalf("status %d body %q; want %d containing %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
			if tc.status == 200 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestExportHandlerStreamsRecording(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, database.DialectSQLite)
	r, err := recording.New(db, recording.Options{Logger: dbtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r.EnqueueBlock(recording.Block{SensorID: "s1", AttributeID: "ecg", StartUS: 1_000_000, ServerTimeUS: 1_000_001, RateHz: 2, Samples: []float32{1, 2}})
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exporthttp.NewExportHandler(recordedOnly{r}, func(*http.Request, string) error { return nil }, zerolog.Nop()))
	t.Cleanup(srv.Close)
	res, err := srv.Client().Get(srv.URL + exporthttp.ExportPath + "?sensor_id=s1&attribute_id=ecg")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	want := recording.CSVHeader +
		"1970-01-01T00:00:01.000000Z,1000000,1000001,s1,ecg,1\n" +
		"1970-01-01T00:00:01.500000Z,1500000,1000001,s1,ecg,2\n"
	if res.StatusCode != 200 || string(body) != want {
		t.Fatalf("status %d body:\n%s", res.StatusCode, body)
	}
}

// recordedOnly exports a recorder's data without an in-memory window.
type recordedOnly struct{ r *recording.Recorder }

func (e recordedOnly) ExportCSV(ctx context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64) (int64, error) {
	return e.r.ExportCSV(ctx, w, sensorID, attributeID, fromUS, toUS, nil)
}
