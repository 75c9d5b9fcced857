package recording

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// CSVHeader is the first line of an export of numbers (and of an empty export).
const CSVHeader = "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,value\n"

// csvFixedHeader are the columns every export starts with.
const csvFixedHeader = "time_iso8601,time_us,server_time_us,sensor_id,attribute_id"

// csvOther is the last column of an export of structured values: JSON of the keys of
// a row that no column holds (empty when there are none).
const csvOther = "other"

// csvTimeLayout is ISO 8601 in UTC with microseconds.
const csvTimeLayout = "2006-01-02T15:04:05.000000Z"

// Well-known value shapes get all their columns in a fixed order, whichever of them
// the first value has (a position may gain an altitude later).
var csvShapes = [][]string{
	{"x", "y", "z"},
	{"w", "x", "y", "z"},
	{"latitude", "longitude", "altitude", "accuracy", "speed", "heading"},
}

// ExportCSV writes the data of one attribute in [fromUS, toUS) (toUS 0: no end) to w
// as CSV, in time order: the recorded rows, then from recent's first time on the
// in-memory window recent (time-ordered; it replaces the recorded rows from there, as
// in Query, so nothing is written twice). One row per value and per waveform sample
// (at start + i/rate). It reads through one cursor and keeps only the blocks
// overlapping the current time in memory.
//
// The value columns follow the first value (and every value of recent): a number or
// text is one "value" column; a structured value (a JSON object payload) gets one
// column per key, nested keys joined with "." (battery → level, charging; imu →
// accelerometer.x …), with the well-known shapes in their order (x,y,z; w,x,y,z;
// latitude, longitude, altitude, accuracy, speed, heading), plus a last "other"
// column holding, as JSON, keys of later rows that have no column. It returns the
// rows written.
func (r *Recorder) ExportCSV(ctx context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64, recent []Point) (int64, error) {
	if toUS <= 0 || toUS > maxSaneTimeUS {
		toUS = maxSaneTimeUS // nothing readable lies later (see saneBlockSQL)
	}
	fromUS = max(fromUS, 0)
	cut := toUS
	if len(recent) > 0 && recent[0].TimeUS < cut {
		cut = max(fromUS, recent[0].TimeUS)
	}
	recent = clipPoints(recent, cut, toUS)
	s, err := r.openStream(ctx, sensorID, attributeID, fromUS, cut)
	if err != nil {
		return 0, fmt.Errorf("export csv: %w", err)
	}
	defer func() { _ = s.Close() }()
	first, found := s.Next()
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("export csv: %w", err)
	}
	var firsts []Point
	if found {
		firsts = append(firsts, first)
	}
	cols := csvColumns(append(firsts, recent...))

	bw := bufio.NewWriterSize(w, 64*1024)
	if _, err := bw.WriteString(cols.header()); err != nil {
		return 0, fmt.Errorf("write csv: %w", err)
	}
	var (
		n    int64
		line []byte
	)
	write := func(p *Point) error {
		line = cols.appendRow(line[:0], p, sensorID, attributeID)
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
		n++
		return nil
	}
	for p, ok := first, found; ok; p, ok = s.Next() {
		if err := write(&p); err != nil {
			return n, err
		}
	}
	if err := s.Err(); err != nil {
		return n, fmt.Errorf("export csv: %w", err)
	}
	for i := range recent {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("export csv: %w", err)
		}
		if err := write(&recent[i]); err != nil {
			return n, err
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write csv: %w", err)
	}
	return n, nil
}

// csvCols are the value columns of an export: nil keys means one "value" column.
type csvCols struct {
	keys  []string
	index map[string]int
}

// csvColumns chooses the value columns from sample points (see ExportCSV).
func csvColumns(ps []Point) csvCols {
	seen := map[string]bool{}
	var keys []string
	for i := range ps {
		obj, ok := decodeObject(ps[i].Payload, ps[i].Kind)
		if !ok {
			if i == 0 {
				return csvCols{} // a number or text first: one value column
			}
			continue
		}
		for _, k := range flatKeys(obj, "", nil) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return csvCols{}
	}
	shaped := false
	for _, shape := range csvShapes {
		if subset(keys, shape) {
			keys, shaped = slices.Clone(shape), true
			break
		}
	}
	if !shaped {
		slices.Sort(keys)
	}
	c := csvCols{keys: keys, index: make(map[string]int, len(keys))}
	for i, k := range keys {
		c.index[k] = i
	}
	return c
}

// subset reports whether every key is in shape and shape's first two are there.
func subset(keys, shape []string) bool {
	for _, k := range keys {
		if !slices.Contains(shape, k) {
			return false
		}
	}
	return len(shape) == 0 || slices.Contains(keys, shape[0]) && slices.Contains(keys, shape[1])
}

func (c csvCols) header() string {
	if c.keys == nil {
		return CSVHeader
	}
	b := []byte(csvFixedHeader)
	for _, k := range c.keys {
		b = append(b, ',')
		b = appendQuoted(b, []byte(k))
	}
	return string(append(append(b, ","+csvOther...), '\n'))
}

// appendRow appends one CSV line. Sensor and attribute ids cannot contain commas,
// quotes or newlines (see ent/schema), so only values may need quoting.
func (c csvCols) appendRow(b []byte, p *Point, sensorID, attributeID string) []byte {
	b = time.UnixMicro(p.TimeUS).UTC().AppendFormat(b, csvTimeLayout)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.TimeUS, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.ServerTimeUS, 10)
	b = append(b, ',')
	b = append(b, sensorID...)
	b = append(b, ',')
	b = append(b, attributeID...)
	if c.keys == nil {
		b = append(b, ',')
		b = appendValue(b, p)
		return append(b, '\n')
	}
	cells := make([][]byte, len(c.keys))
	var other map[string]any
	if obj, ok := decodeObject(p.Payload, p.Kind); ok {
		for _, k := range flatKeys(obj, "", nil) {
			v := lookup(obj, k)
			if i, ok := c.index[k]; ok {
				cells[i] = appendScalar(nil, v)
				continue
			}
			if other == nil {
				other = map[string]any{}
			}
			other[k] = v
		}
	} else {
		other = map[string]any{"value": nil}
		if p.Kind == KindNumber {
			other["value"] = p.Number
		} else if v, ok := decodeJSON(p.Payload); ok {
			other["value"] = v
		} else {
			other["value"] = string(p.Payload)
		}
	}
	for _, cell := range cells {
		b = append(b, ',')
		b = appendQuoted(b, cell)
	}
	b = append(b, ',')
	if other != nil {
		j, _ := json.Marshal(other) // decoded JSON always marshals
		b = appendQuoted(b, j)
	}
	return append(b, '\n')
}

// appendValue appends the single value column: a number in shortest round-trip form,
// a text as itself, anything else as its JSON text.
func appendValue(b []byte, p *Point) []byte {
	if p.Kind == KindNumber {
		return strconv.AppendFloat(b, p.Number, 'g', -1, 64)
	}
	v, ok := decodeJSON(p.Payload)
	if !ok {
		return appendQuoted(b, p.Payload) // not JSON: as stored
	}
	if s, isText := v.(string); isText {
		return appendQuoted(b, []byte(s))
	}
	return appendQuoted(b, bytes.TrimSpace(p.Payload))
}

// appendScalar appends a cell's text: numbers as written, booleans as true/false,
// text as itself, null as nothing, arrays and objects as JSON.
func appendScalar(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case json.Number:
		return append(b, x...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return append(b, x...)
	}
	j, _ := json.Marshal(v) // decoded JSON always marshals
	return append(b, j...)
}

func decodeJSON(p []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// decodeObject decodes a payload that is a JSON object.
func decodeObject(p []byte, k Kind) (map[string]any, bool) {
	if k == KindNumber || len(p) == 0 || p[0] != '{' {
		return nil, false
	}
	v, ok := decodeJSON(p)
	if !ok {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	return obj, ok
}

// flatKeys appends the keys of obj's leaves, nested keys joined with ".", sorted
// within each level.
func flatKeys(obj map[string]any, prefix string, out []string) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if sub, ok := obj[k].(map[string]any); ok && len(sub) > 0 {
			out = flatKeys(sub, prefix+k+".", out)
			continue
		}
		out = append(out, prefix+k)
	}
	return out
}

// lookup returns the leaf of obj at a flattened key.
func lookup(obj map[string]any, key string) any {
	if v, ok := obj[key]; ok {
		return v
	}
	for i := range len(key) {
		if key[i] != '.' {
			continue
		}
		if sub, ok := obj[key[:i]].(map[string]any); ok {
			if v := lookup(sub, key[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

// appendQuoted appends a CSV field, quoted (with doubled quotes) when it needs to be.
func appendQuoted(b, field []byte) []byte {
	needs := false
	for _, c := range field {
		if c == '"' || c == ',' || c == '\n' || c == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(b, field...)
	}
	b = append(b, '"')
	for _, c := range field {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	return append(b, '"')
}
