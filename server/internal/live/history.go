package live

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// GetHistory on any node answers the same points: recorded rows from the shared
// database, and the recent in-memory part (not recorded yet, or never for a sensor
// that does not record) from the node that ingests the sensor.
//
// A node that ingests a sensor (every local ingest passes OnIngest) holds it: it
// subscribes to bus.KindHistoryAsk of the sensor and answers asks with its hub's window
// of the attribute, until it has ingested nothing of the sensor for HoldIdle or a
// connector session of the sensor started on another node (sessionmove.go). Another
// node asked for the history of a sensor it does not hold asks when some node is
// interested (bus.Interested, so a sensor nobody ingests costs no wait), waits at most
// HistoryTimeout for the answer (bus.KindHistoryAnswer, keyed by the asking node) and
// merges it with the recorded rows as it would its own window; without an answer (the
// ingesting node died, or the answer was too big) it answers from the database and its
// own window, and the response's in_memory span is this node's.

// Limits of the cross-node history.
const (
	// HistoryTimeout bounds the wait for the ingesting node's answer.
	HistoryTimeout = 2 * time.Second
	// HoldIdle is how long a node keeps answering for a sensor it no longer ingests.
	HoldIdle = 30 * time.Second
	// MaxAnswerBytes bounds one answer (in messages of at most maxMessageBytes).
	MaxAnswerBytes = 8 << 20
	// MaxAsks bounds the asks of one node waiting for answers; beyond, a node answers
	// from its own window at once.
	MaxAsks = 1024
	// historyAskQueue bounds the asks of one held sensor waiting to be answered.
	historyAskQueue = 64
)

// historyAsk is the JSON payload of bus.KindHistoryAsk.
type historyAsk struct {
	ID        uint64 `json:"id"`
	Attribute string `json:"attribute"`
	FromUS    int64  `json:"from_us"`
	ToUS      int64  `json:"to_us"`
}

// held is a sensor this node ingests, answering asks.
type held struct {
	sub    bus.Subscription
	lastUS atomic.Int64 // time of the last local ingest
}

// pendingAsk collects the answer to one ask.
type pendingAsk struct {
	done  chan struct{}
	bytes int
	w     sensors.Window
	err   error
}

// historyState is the cross-node history part of remote.
type historyState struct {
	holders                   sync.Map // sensor id → *held
	holdMu                    sync.Mutex
	askMu                     sync.Mutex
	asks                      map[uint64]*pendingAsk
	nextAsk                   uint64
	answers                   bus.Subscription // bus.KindHistoryAnswer of this node (nil when solo)
	served, asked, unanswered atomic.Uint64
}

var errAnswer = errors.New("bad history answer")

// hold notes a local ingest of the sensor (called from OnIngest, under the sensor's
// lock): a map lookup and an atomic store once the sensor is held.
func (r *remote) hold(id string) {
	now := time.Now().UnixMicro()
	if h, ok := r.hist.holders.Load(id); ok {
		h.(*held).lastUS.Store(now)
		return
	}
	r.hist.holdMu.Lock()
	defer r.hist.holdMu.Unlock()
	if h, ok := r.hist.holders.Load(id); ok {
		h.(*held).lastUS.Store(now)
		return
	}
	sub, err := r.bus.Subscribe(bus.KindHistoryAsk, id, historyAskQueue)
	if err != nil {
		r.log.Warn().Err(err).Str("sensor", id).Msg("cannot answer other nodes' history asks")
		return
	}
	h := &held{sub: sub}
	h.lastUS.Store(now)
	r.hist.holders.Store(id, h)
	go r.serveHistory(id, h) // ends when the subscription closes (releaseIdle, the bus)
}

// holding reports whether this node ingests the sensor.
func (r *remote) holding(id string) bool {
	_, ok := r.hist.holders.Load(id)
	return ok
}

// unhold stops answering for the sensor (its connector moved to another node).
func (r *remote) unhold(id string) {
	r.hist.holdMu.Lock()
	defer r.hist.holdMu.Unlock()
	if h, ok := r.hist.holders.LoadAndDelete(id); ok {
		h.(*held).sub.Close()
	}
}

// releaseIdle stops answering for the sensors not ingested here for HoldIdle.
func (r *remote) releaseIdle(now time.Time) {
	r.hist.holdMu.Lock()
	defer r.hist.holdMu.Unlock()
	limit := now.Add(-HoldIdle).UnixMicro()
	r.hist.holders.Range(func(k, v any) bool {
		if h := v.(*held); h.lastUS.Load() < limit {
			r.hist.holders.Delete(k)
			h.sub.Close()
		}
		return true
	})
}

// serveHistory answers the asks of one held sensor.
func (r *remote) serveHistory(id string, h *held) {
	for m := range h.sub.C() {
		var a historyAsk
		if json.Unmarshal(m.Data, &a) != nil || len(m.Origin) > bus.MaxNodeIDBytes {
			r.rejected.Add(1)
			continue
		}
		r.answerHistory(id, m.Origin, a)
	}
}

// answer flags.
const (
	answerLast  = 1 // the last message of the answer
	answerFound = 2 // the attribute is in this node's hub
)

// answerHistory sends this node's window of the attribute to the asking node, in
// messages of at most maxMessageBytes (each: ask id, flags, type, span, then a batch
// of measurements in the wire encoding).
func (r *remote) answerHistory(id, origin string, a historyAsk) {
	key := "node:" + origin
	points, typ, err := r.hub.History(id, a.Attribute, a.FromUS, a.ToUS, 0)
	first, last, _ := r.hub.Span(id, a.Attribute)
	b := &hub.Batch{Measurements: make([]hub.Measurement, len(points))}
	for i := range points {
		b.Measurements[i] = hub.Measurement{TimeUS: points[i].TimeUS, Value: points[i].Value}
	}
	flags := byte(answerFound)
	if err != nil {
		flags = 0
	}
	header := func(buf []byte, fl byte) []byte {
		buf = binary.AppendUvarint(buf, a.ID)
		buf = append(buf, fl)
		buf = appendString(buf, typ)
		buf = binary.AppendVarint(buf, first)
		return binary.AppendVarint(buf, last)
	}
	send := func(fl byte, body []byte) {
		data := append(header(nil, fl), body...)
		if err := r.bus.Publish(bus.Message{Kind: bus.KindHistoryAnswer, Key: key, Data: data}); err != nil {
			r.unsent.Add(1)
		}
	}
	// Each message goes out when the next is encoded; the last carries answerLast.
	var prev []byte
	encodeBatch(nil, nil, b, maxMessageBytes, func(body []byte) {
		if prev != nil {
			send(flags, prev)
		}
		prev = append(prev[:0], body...)
	})
	send(flags|answerLast, prev)
	r.hist.served.Add(1)
}

// collectAnswers hands the answers to this node's asks to their waiters until ctx
// ends (run by Service.Run).
func (r *remote) collectAnswers(ctx context.Context) error {
	if r.hist.answers == nil {
		return nil
	}
	defer r.hist.answers.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-r.hist.answers.C():
			if !ok {
				return nil
			}
			r.takeAnswer(m.Data)
		}
	}
}

// takeAnswer adds one answer message to its ask.
func (r *remote) takeAnswer(data []byte) {
	rd := &wireReader{b: data}
	id := rd.uvarint()
	flags := rd.byte()
	typ := rd.str()
	first, last := rd.varint(), rd.varint()
	r.hist.askMu.Lock()
	defer r.hist.askMu.Unlock()
	p := r.hist.asks[id]
	if p == nil || rd.err != nil {
		return // an answer after the timeout, or garbage
	}
	finish := func(err error) {
		p.err = err
		delete(r.hist.asks, id)
		close(p.done)
	}
	if p.bytes += len(data); p.bytes > MaxAnswerBytes {
		finish(errAnswer)
		return
	}
	if flags&answerFound == 0 {
		finish(errAnswer)
		return
	}
	b, err := decodeBatch(rd.b)
	if err != nil {
		finish(err)
		return
	}
	p.w.Type = typ
	if first != 0 || last != 0 {
		p.w.Span = sensors.Span{FirstUS: first, LastUS: last}
	}
	for i := range b.Measurements {
		m := &b.Measurements[i]
		p.w.Points = append(p.w.Points, hub.Point{TimeUS: m.TimeUS, Value: m.Value})
	}
	if flags&answerLast != 0 {
		finish(nil)
	}
}

// askHistory asks the node that ingests the sensor for its window of the range.
func (r *remote) askHistory(ctx context.Context, req sensors.HistoryRequest) (sensors.Window, bool) {
	r.hist.askMu.Lock()
	if len(r.hist.asks) >= MaxAsks {
		r.hist.askMu.Unlock()
		r.hist.unanswered.Add(1)
		return sensors.Window{}, false
	}
	r.hist.nextAsk++
	id := r.hist.nextAsk
	p := &pendingAsk{done: make(chan struct{})}
	r.hist.asks[id] = p
	r.hist.askMu.Unlock()
	drop := func() {
		r.hist.askMu.Lock()
		if r.hist.asks[id] == p {
			delete(r.hist.asks, id)
		}
		r.hist.askMu.Unlock()
		r.hist.unanswered.Add(1)
	}
	data, err := json.Marshal(historyAsk{ID: id, Attribute: req.AttributeID, FromUS: req.FromUS, ToUS: req.ToUS})
	if err == nil {
		err = r.bus.Publish(bus.Message{Kind: bus.KindHistoryAsk, Key: req.SensorID, Data: data})
	}
	if err != nil {
		drop()
		return sensors.Window{}, false
	}
	r.hist.asked.Add(1)
	t := time.NewTimer(HistoryTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			r.hist.unanswered.Add(1)
			r.log.Debug().Err(p.err).Str("sensor", req.SensorID).Msg("history ask not answered in full")
			return sensors.Window{}, false
		}
		return p.w, true
	case <-t.C:
	case <-ctx.Done():
	}
	drop()
	return sensors.Window{}, false
}

// History answers GetHistory (sensorsrpc.Historian): from this node's hub when it
// ingests the sensor or no node does, else with the ingesting node's window.
func (s *Service) History(ctx context.Context, v authz.Viewer, req sensors.HistoryRequest) (sensors.History, error) {
	r := &s.remote
	if r.solo || r.holding(req.SensorID) || !r.bus.Interested(bus.KindHistoryAsk, req.SensorID) {
		return s.sensors.History(ctx, v, req)
	}
	h, err := s.sensors.HistoryWith(ctx, v, req, func(ctx context.Context) (sensors.Window, bool) {
		return r.askHistory(ctx, req)
	})
	if err != nil {
		return sensors.History{}, err //nolint:wrapcheck // the sensors domain's error, as History returns it
	}
	return h, nil
}
