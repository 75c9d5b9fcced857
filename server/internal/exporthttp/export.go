// Package exporthttp owns the HTTP side of recording that is not an RPC: the CSV
// export route GET /export/csv?sensor_id=…&attribute_id=…&from_us=…&to_us=…. It
// checks the request, asks an authorizer whether the caller may read the sensor,
// and streams the Exporter's CSV (recorded data and the in-memory window) into the
// response. Errors before the first byte are answered like Connect errors (the one
// kind → code mapping in package rpc); once streaming has started a failure can only
// cut the response short, which is logged.
package exporthttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"connectrpc.com/connect"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/rpc"
)

// ExportPath is the route of the CSV export.
const ExportPath = "/export/csv"

// Exporter streams an attribute's data as CSV (sensors.Service implements it: the
// recorded data merged with the in-memory window).
type Exporter interface {
	ExportCSV(ctx context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64) (int64, error)
}

// Authorize returns nil when the caller of r may read the sensor's data, else an
// apperr error (Unauthenticated, PermissionDenied, NotFound). The wiring resolves
// the bearer token or session cookie here the same way as for the API.
type Authorize func(r *http.Request, sensorID string) error

// ExportHandler serves ExportPath.
type ExportHandler struct {
	exporter  Exporter
	authorize Authorize
	log       zerolog.Logger
	errors    *connect.ErrorWriter
}

// NewExportHandler returns the handler of the CSV export.
func NewExportHandler(e Exporter, authorize Authorize, log zerolog.Logger) *ExportHandler {
	return &ExportHandler{exporter: e, authorize: authorize, log: log, errors: connect.NewErrorWriter()}
}

// exportRequest is a checked export query.
type exportRequest struct {
	sensorID, attributeID string
	fromUS, toUS          int64
}

func parseExport(r *http.Request) (exportRequest, error) {
	q := r.URL.Query()
	req := exportRequest{sensorID: q.Get("sensor_id"), attributeID: q.Get("attribute_id")}
	var bad []apperr.FieldViolation
	if !apirules.ValidSensorID(req.sensorID) {
		bad = append(bad, apperr.FieldViolation{Field: "sensor_id", Description: "must match " + apirules.SensorIDPattern})
	}
	if !apirules.ValidAttributeID(req.attributeID) {
		bad = append(bad, apperr.FieldViolation{Field: "attribute_id", Description: "must match " + apirules.AttributeIDPattern})
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"from_us", &req.fromUS}, {"to_us", &req.toUS}} {
		s := q.Get(f.name)
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			bad = append(bad, apperr.FieldViolation{Field: f.name, Description: "must be microseconds since the Unix epoch"})
			continue
		}
		*f.dst = v
	}
	if req.toUS != 0 && req.toUS <= req.fromUS {
		bad = append(bad, apperr.FieldViolation{Field: "to_us", Description: "must be greater than from_us"})
	}
	if len(bad) > 0 {
		return req, apperr.InvalidArguments(bad...)
	}
	return req, nil
}

// ServeHTTP streams the export.
func (h *ExportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := parseExport(r)
	if err == nil {
		err = h.authorize(r, req.sensorID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%s_%d_%d.csv"`,
		sanitize(req.sensorID), req.attributeID, req.fromUS, req.toUS))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	sw := &startedWriter{w: w}
	n, err := h.exporter.ExportCSV(r.Context(), sw, req.sensorID, req.attributeID, req.fromUS, req.toUS)
	if err != nil {
		if !sw.started {
			h.fail(w, r, err)
			return
		}
		h.log.Warn().Err(err).Str("sensor_id", req.sensorID).Str("attribute_id", req.attributeID).
			Int64("rows", n).Msg("csv export cut short")
	}
}

func (h *ExportHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ce := rpc.ConnectError(err)
	if ce.Code() == connect.CodeInternal || ce.Code() == connect.CodeUnknown {
		h.log.Error().Err(rpc.Cause(ce)).Str("path", r.URL.Path).Msg("csv export failed")
	}
	if werr := h.errors.Write(w, r, ce); werr != nil {
		h.log.Debug().Err(werr).Msg("write export error")
	}
}

// sanitize makes a sensor id safe in a file name (':' is not, on some systems).
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ':' {
			b[i] = '-'
		}
	}
	return string(b)
}

// startedWriter records whether anything was written, i.e. whether the status line
// has gone out.
type startedWriter struct {
	w       io.Writer
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	n, err := s.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write response: %w", err)
	}
	return n, nil
}
