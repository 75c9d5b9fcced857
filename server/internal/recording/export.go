package recording

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CSVHeader is the first line of an export.
const CSVHeader = "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,value\n"

// csvTimeLayout is ISO 8601 in UTC with microseconds.
const csvTimeLayout = "2006-01-02T15:04:05.000000Z"

// ExportCSV writes the recorded data of one attribute in [fromUS, toUS) (toUS 0: no
// end) to w as CSV, one row per value and per waveform sample (at
// start + i/rate), in time order. It reads through one cursor and keeps only the
// blocks overlapping the current time in memory. value is the number (shortest
// round-trip form) or the payload: as is when it is valid JSON, else as a JSON string.
// It returns the rows written.
func (r *Recorder) ExportCSV(ctx context.Context, w io.Writer, sensorID, attributeID string, fromUS, toUS int64) (int64, error) {
	if toUS <= 0 || toUS > maxSaneTimeUS {
		toUS = maxSaneTimeUS // nothing readable lies later (see saneBlockSQL)
	}
	fromUS = max(fromUS, 0)
	bw := bufio.NewWriterSize(w, 64*1024)
	if _, err := bw.WriteString(CSVHeader); err != nil {
		return 0, fmt.Errorf("write csv: %w", err)
	}
	s, err := r.openStream(ctx, sensorID, attributeID, fromUS, toUS)
	if err != nil {
		return 0, fmt.Errorf("export csv: %w", err)
	}
	defer func() { _ = s.Close() }()
	var (
		n    int64
		line []byte
	)
	for p, ok := s.Next(); ok; p, ok = s.Next() {
		line = appendCSVRow(line[:0], &p, sensorID, attributeID)
		if _, err := bw.Write(line); err != nil {
			return n, fmt.Errorf("write csv: %w", err)
		}
		n++
	}
	if err := s.Err(); err != nil {
		return n, fmt.Errorf("export csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write csv: %w", err)
	}
	return n, nil
}

// appendCSVRow appends one CSV line. Sensor and attribute ids cannot contain commas,
// quotes or newlines (see ent/schema), so only the value may need quoting.
func appendCSVRow(b []byte, p *Point, sensorID, attributeID string) []byte {
	b = time.UnixMicro(p.TimeUS).UTC().AppendFormat(b, csvTimeLayout)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.TimeUS, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.ServerTimeUS, 10)
	b = append(b, ',')
	b = append(b, sensorID...)
	b = append(b, ',')
	b = append(b, attributeID...)
	b = append(b, ',')
	if p.Kind == KindNumber {
		b = strconv.AppendFloat(b, p.Number, 'g', -1, 64)
	} else {
		b = appendQuoted(b, jsonText(p.Payload))
	}
	return append(b, '\n')
}

// jsonText returns payload as JSON text: itself when valid JSON, else a JSON string.
func jsonText(payload []byte) []byte {
	if json.Valid(payload) {
		return payload
	}
	q, _ := json.Marshal(string(payload)) // a string always marshals
	return q
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
