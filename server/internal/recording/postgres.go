package recording

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// storeLockKey is the PostgreSQL advisory lock key held while the measurement store's
// DDL runs ("sensorec" as an int64); the migrations use a different key.
const storeLockKey int64 = 0x73656e736f726563

// pgTables pairs each partitioned table with its time column.
var pgTables = [...]struct{ name, timeCol string }{
	{valuesTable, "time_us"},
	{blocksTable, "start_time_us"},
	{packsTable, "start_time_us"},
}

type pgSink struct {
	// db is swappable so tests can take the store away and give it back.
	db   atomic.Pointer[sql.DB]
	opts *Options

	mu   sync.Mutex
	days map[int64]bool // day partitions known to exist in both tables

	scratch sync.Pool // of *writeScratch, one per concurrent write
}

func newPGSink(db *sql.DB, opts *Options) *pgSink {
	s := &pgSink{opts: opts, days: map[int64]bool{}}
	s.db.Store(db)
	return s
}

// withConn runs f on a pgx connection of the pool.
func (s *pgSink) withConn(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := s.db.Load().Conn(ctx)
	if err != nil {
		return fmt.Errorf("get connection: %w", err)
	}
	defer func() { _ = conn.Close() }()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("get connection: driver connection is %T, not pgx", dc)
		}
		return f(c.Conn())
	})
}

func (s *pgSink) ensure(ctx context.Context, now time.Time) error {
	err := s.withConn(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, storeLockKey); err != nil {
			return fmt.Errorf("take store lock: %w", err)
		}
		defer func() {
			if _, err := c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, storeLockKey); err != nil {
				_ = c.Close(context.WithoutCancel(ctx)) // never hand back a connection holding the lock
			}
		}()
		if _, err := migratePostgres(ctx, c, now); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	today := dayOf(now.UnixMicro())
	return s.withConn(ctx, func(c *pgx.Conn) error {
		for d := today; d <= today+int64(s.opts.PartitionsAhead); d++ {
			if err := s.ensureDay(ctx, c, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// partitionName returns the partition of table for day d: table_dYYYYMMDD.
func partitionName(table string, d int64) string {
	return table + "_d" + time.UnixMicro(d*dayUS).UTC().Format("20060102")
}

// ensureDay creates day d's partition of both tables if missing. Rows of that day
// already in a default partition are moved into the new partition before it is
// attached, so late data recorded before its partition existed is not lost.
func (s *pgSink) ensureDay(ctx context.Context, c *pgx.Conn, d int64) error {
	s.mu.Lock()
	known := s.days[d]
	s.mu.Unlock()
	if known {
		return nil
	}
	lo, hi := d*dayUS, (d+1)*dayUS
	err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, storeLockKey); err != nil {
			return fmt.Errorf("take store lock: %w", err)
		}
		for _, t := range pgTables {
			part := partitionName(t.name, d)
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, part).Scan(&exists); err != nil {
				return fmt.Errorf("look up partition %s: %w", part, err)
			}
			if exists {
				continue
			}
			stmts := []string{
				fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`, part, t.name),
				fmt.Sprintf(`WITH moved AS (DELETE FROM %s_default WHERE %s >= %d AND %s < %d RETURNING *) INSERT INTO %s SELECT * FROM moved`,
					t.name, t.timeCol, lo, t.timeCol, hi, part),
				fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, t.name, part, lo, hi),
			}
			for _, stmt := range stmts {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("create partition %s: %w", part, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.days[d] = true
	s.mu.Unlock()
	return nil
}

// batchDays returns the distinct days of a batch's rows that should have partitions
// now: within PartitionWindow before now and PartitionsAhead days after today.
func (s *pgSink) batchDays(b *batch, now time.Time) []int64 {
	today := dayOf(now.UnixMicro())
	first := dayOf(now.Add(-s.opts.PartitionWindow).UnixMicro())
	last := today + int64(s.opts.PartitionsAhead)
	var days []int64
	prev := int64(math.MinInt64)
	add := func(us int64) {
		d := dayOf(us)
		if d == prev || d < first || d > last {
			return
		}
		prev = d
		for _, x := range days {
			if x == d {
				return
			}
		}
		days = append(days, d)
	}
	for _, c := range b.chunks {
		for i := range c.values {
			add(c.values[i].TimeUS)
		}
		for i := range c.blocks {
			add(c.blocks[i].StartUS)
		}
	}
	return days
}

func (s *pgSink) write(ctx context.Context, b *batch, now time.Time) error {
	days := s.batchDays(b, now)
	return s.withConn(ctx, func(c *pgx.Conn) error {
		for _, d := range days {
			if err := s.ensureDay(ctx, c, d); err != nil {
				return err
			}
		}
		sc, _ := s.scratch.Get().(*writeScratch)
		if sc == nil {
			sc = &writeScratch{}
		}
		sc.prepare(b)
		defer func() {
			sc.reset()
			s.scratch.Put(sc)
		}()
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if len(sc.packs) > 0 {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{packsTable}, packColumns, &packRows{packs: sc.packs, i: -1}); err != nil {
					return fmt.Errorf("copy measurement packs: %w", err)
				}
			}
			if len(sc.others) > 0 {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{valuesTable}, valueColumns, &valueRows{vals: sc.others, i: -1}); err != nil {
					return fmt.Errorf("copy measurements: %w", err)
				}
			}
			if len(sc.blocks) > 0 {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{blocksTable}, blockColumns, &blockRows{blocks: sc.blocks, i: -1}); err != nil {
					return fmt.Errorf("copy measurement blocks: %w", err)
				}
			}
			return nil
		})
	})
}

// packRows feeds packs to CopyFrom, reusing one row slice.
type packRows struct {
	packs []pack
	i     int
	row   [10]any
}

func (r *packRows) Next() bool {
	r.i++
	return r.i < len(r.packs)
}

func (r *packRows) Values() ([]any, error) {
	p := &r.packs[r.i]
	r.row[0], r.row[1], r.row[2], r.row[3], r.row[4] = p.sensorID, p.attributeID, p.start, p.end, int32(p.n) //nolint:gosec // G115: n ≤ packMaxValues
	r.row[5], r.row[6], r.row[7], r.row[8], r.row[9] = p.min, p.max, p.sum, p.times, p.numbers
	return r.row[:], nil
}

func (r *packRows) Err() error { return nil }

// valueRows feeds values to CopyFrom, reusing one row slice (pgx encodes a row
// before asking for the next).
type valueRows struct {
	vals []*Value
	i    int
	row  [7]any
}

func (r *valueRows) Next() bool {
	r.i++
	return r.i < len(r.vals)
}

func (r *valueRows) Values() ([]any, error) {
	v := r.vals[r.i]
	r.row[0], r.row[1], r.row[2], r.row[3], r.row[4] = v.SensorID, v.AttributeID, v.TimeUS, v.ServerTimeUS, int16(v.Kind)
	if v.Kind == KindNumber {
		r.row[5], r.row[6] = v.Number, nil
	} else {
		r.row[5], r.row[6] = nil, v.Payload
	}
	return r.row[:], nil
}

func (r *valueRows) Err() error { return nil }

// blockRows feeds blocks to CopyFrom, packing samples into a reused buffer.
type blockRows struct {
	blocks []blockAt
	i      int
	row    [11]any
	buf    []byte
}

func (r *blockRows) Next() bool {
	r.i++
	return r.i < len(r.blocks)
}

func (r *blockRows) Values() ([]any, error) {
	bl := r.blocks[r.i].b
	samples := r.blocks[r.i].c.blockSamples(bl)
	r.buf = packSamples(r.buf[:0], samples)
	end, lo, hi, sum := blockSummary(bl.StartUS, bl.RateHz, samples)
	r.row[0], r.row[1], r.row[2], r.row[3] = bl.SensorID, bl.AttributeID, bl.StartUS, bl.ServerTimeUS
	r.row[4], r.row[5], r.row[6] = bl.RateHz, int32(bl.n), r.buf //nolint:gosec // G115: n ≤ the queue bound, far below 2³¹
	r.row[7], r.row[8], r.row[9], r.row[10] = end, lo, hi, sum
	return r.row[:], nil
}

func (r *blockRows) Err() error { return nil }

// packSamples appends samples as little-endian float32s.
func packSamples(dst []byte, samples []float32) []byte {
	for _, f := range samples {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// unpackSamples appends the float32s packed in p.
func unpackSamples(dst []float32, p []byte) []float32 {
	for i := 0; i+4 <= len(p); i += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(p[i:])))
	}
	return dst
}

func (s *pgSink) deleteBefore(ctx context.Context, sensorID string, cutoffUS int64) (int64, error) {
	var total int64
	for _, t := range pgTables {
		q := fmt.Sprintf(`DELETE FROM %s WHERE %s < $1`, t.name, t.timeCol)
		args := []any{cutoffUS}
		if sensorID != "" {
			q += ` AND sensor_id = $2`
			args = append(args, sensorID)
		}
		res, err := s.db.Load().ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("delete old rows of %s: %w", t.name, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

func (s *pgSink) dropBefore(ctx context.Context, cutoffUS int64) ([]string, error) {
	var dropped []string
	err := s.withConn(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, storeLockKey); err != nil {
				return fmt.Errorf("take store lock: %w", err)
			}
			for _, t := range pgTables {
				rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
					WHERE i.inhparent = $1::regclass ORDER BY c.relname`, t.name)
				if err != nil {
					return fmt.Errorf("list partitions of %s: %w", t.name, err)
				}
				names, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return fmt.Errorf("list partitions of %s: %w", t.name, err)
				}
				for _, name := range names {
					day, ok := strings.CutPrefix(name, t.name+"_d")
					if !ok {
						continue
					}
					start, err := time.Parse("20060102", day)
					if err != nil || start.Add(24*time.Hour).UnixMicro() > cutoffUS {
						continue
					}
					if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
						return fmt.Errorf("drop partition %s: %w", name, err)
					}
					dropped = append(dropped, name)
					s.mu.Lock()
					delete(s.days, dayOf(start.UnixMicro()))
					s.mu.Unlock()
				}
			}
			return nil
		})
	})
	return dropped, err
}
