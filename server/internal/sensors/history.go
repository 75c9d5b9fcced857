package sensors

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/recording"
)

// HistoryRequest selects a time range of one attribute.
type HistoryRequest struct {
	SensorID, AttributeID string
	// FromUS (inclusive) and ToUS (exclusive, 0: no end), µs since the Unix epoch.
	FromUS, ToUS int64
	// MaxPoints caps the answer (recording.DefaultMaxPoints when 0); with Raw it is the page size.
	MaxPoints int
	// Raw pages through raw points; PageToken continues from a previous answer.
	Raw       bool
	PageToken string
}

// History is the answer to a history query.
type History struct {
	Points        []hub.Bucket
	Downsampled   bool
	TotalCount    uint64
	NextPageToken string
	AttributeType string
	// Recorded and InMemory say where data of the attribute exists, whatever the
	// range asked for; Recording whether the sensor is being recorded now.
	Recorded, InMemory Span
	Recording          bool
}

// Span is the time span of values held somewhere; zero when there are none.
type Span struct{ FirstUS, LastUS int64 }

// IsZero reports whether the span holds nothing.
func (s Span) IsZero() bool { return s == Span{} }

// spans fills where data of the attribute exists (History's Recorded, InMemory and
// Recording).
func (s *Service) spans(ctx context.Context, h *History, sensorID, attributeID string, w *Window) error {
	if w != nil {
		h.InMemory = w.Span
	} else if f, l, ok := s.hub.Span(sensorID, attributeID); ok {
		h.InMemory = Span{f, l}
	}
	h.Recording = s.isRecording(sensorID)
	if s.rec == nil {
		return nil
	}
	f, l, ok, err := s.rec.Span(ctx, sensorID, attributeID)
	if err != nil {
		return fmt.Errorf("recorded span of %s/%s: %w", sensorID, attributeID, err)
	}
	if ok {
		h.Recorded = Span{f, l}
	}
	return nil
}

// History answers a history query of a sensor v may see. With a recorder
// (UseRecorder) it merges recorded rows with the hub's in-memory window
// (recording.Recorder.Query); without one it answers from the window alone.
func (s *Service) History(ctx context.Context, v authz.Viewer, req HistoryRequest) (History, error) {
	return s.HistoryWith(ctx, v, req, nil)
}

// Window is an attribute's in-memory window held by another node (the node that
// ingests the sensor, see live/history.go): its points in the range asked for, oldest
// first, the attribute's type, and the span of everything that node holds.
type Window struct {
	Points []hub.Point
	Type   string
	Span   Span
}

// HistoryWith is History with the in-memory part taken from the window that recent
// returns (called once the view right is checked) instead of this node's hub; when
// recent is nil or returns false, this node's hub answers.
func (s *Service) HistoryWith(ctx context.Context, v authz.Viewer, req HistoryRequest, recent func(context.Context) (Window, bool)) (History, error) {
	if err := s.CheckView(ctx, v, req.SensorID); err != nil {
		return History{}, err
	}
	if err := s.EnsureLive(ctx, []string{req.SensorID}); err != nil {
		return History{}, err
	}
	var w *Window
	if recent != nil {
		if got, ok := recent(ctx); ok {
			w = &got
		}
	}
	h, err := s.history(ctx, req, w)
	if err != nil {
		return History{}, err
	}
	if err := s.spans(ctx, &h, req.SensorID, req.AttributeID, w); err != nil {
		return History{}, err
	}
	return h, nil
}

// windowPoints returns the in-memory points of the range: w's, or this node's hub's.
func (s *Service) windowPoints(req HistoryRequest, w *Window) ([]hub.Point, string, error) {
	if w != nil {
		return w.Points, w.Type, nil
	}
	points, typ, err := s.hub.History(req.SensorID, req.AttributeID, req.FromUS, req.ToUS, 0)
	if err != nil {
		return nil, "", fmt.Errorf("history of %s/%s: %w", req.SensorID, req.AttributeID, err)
	}
	return points, typ, nil
}

func (s *Service) history(ctx context.Context, req HistoryRequest, w *Window) (History, error) {
	if s.rec != nil {
		return s.recordedHistory(ctx, req, w)
	}
	maxPoints := req.MaxPoints
	if maxPoints <= 0 {
		maxPoints = recording.DefaultMaxPoints
	}
	points, typ, err := s.windowPoints(req, w)
	if err != nil {
		return History{}, err
	}
	h := History{AttributeType: typ, TotalCount: uint64(len(points))}
	if !req.Raw && req.PageToken == "" {
		h.Points = hub.Downsample(points, maxPoints)
		h.Downsampled = len(points) > maxPoints
		return h, nil
	}
	start := 0
	if req.PageToken != "" {
		t, skip, err := decodeHistoryToken(req.PageToken)
		if err != nil {
			return History{}, err
		}
		for start < len(points) && points[start].TimeUS < t {
			start++
		}
		start = min(start+skip, len(points))
	}
	end := min(start+maxPoints, len(points))
	h.Points = hub.Downsample(points[start:end], 0)
	if end < len(points) {
		last := points[end-1].TimeUS
		skip := 0
		for i := end - 1; i >= 0 && points[i].TimeUS == last; i-- {
			skip++
		}
		h.NextPageToken = encodeHistoryToken(last, skip)
	}
	return h, nil
}

func encodeHistoryToken(t int64, skip int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t, 10) + ":" + strconv.Itoa(skip)))
}

func decodeHistoryToken(tok string) (int64, int, error) {
	bad := apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, bad
	}
	ts, ss, ok := strings.Cut(string(b), ":")
	if !ok {
		return 0, 0, bad
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	skip, err2 := strconv.Atoi(ss)
	if err1 != nil || err2 != nil || skip < 0 {
		return 0, 0, bad
	}
	return t, skip, nil
}
