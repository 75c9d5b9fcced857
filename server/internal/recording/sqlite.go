package recording

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// sqliteRowsPerInsert is how many rows one prepared INSERT carries (at most 11
// parameters each, well below SQLite's limit of 32766).
const sqliteRowsPerInsert = 128

type sqliteSink struct {
	db      *sql.DB
	scratch writeScratch
}

func (s *sqliteSink) ensure(ctx context.Context, now time.Time) error {
	if _, err := migrateSQLite(ctx, s.db, now); err != nil {
		return err
	}
	return nil
}

// insertSQL returns an INSERT of n rows into table.
func insertSQL(table string, cols []string, n int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(row)
	}
	return sb.String()
}

// rowInserter buffers rows and writes them sqliteRowsPerInsert at a time with one
// prepared statement; the rest go through a one-row statement.
type rowInserter struct {
	ctx       context.Context
	tx        *sql.Tx
	many, one *sql.Stmt
	table     string
	cols      []string
	args      []any
	rows      int
}

func (ins *rowInserter) add(vals ...any) error {
	ins.args = append(ins.args, vals...)
	ins.rows++
	if ins.rows < sqliteRowsPerInsert {
		return nil
	}
	if ins.many == nil {
		st, err := ins.tx.PrepareContext(ins.ctx, insertSQL(ins.table, ins.cols, sqliteRowsPerInsert))
		if err != nil {
			return fmt.Errorf("prepare insert into %s: %w", ins.table, err)
		}
		ins.many = st
	}
	if _, err := ins.many.ExecContext(ins.ctx, ins.args...); err != nil {
		return fmt.Errorf("insert into %s: %w", ins.table, err)
	}
	clear(ins.args)
	ins.args, ins.rows = ins.args[:0], 0
	return nil
}

func (ins *rowInserter) finish() error {
	defer func() {
		if ins.many != nil {
			_ = ins.many.Close()
		}
		if ins.one != nil {
			_ = ins.one.Close()
		}
	}()
	if ins.rows == 0 {
		return nil
	}
	st, err := ins.tx.PrepareContext(ins.ctx, insertSQL(ins.table, ins.cols, 1))
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", ins.table, err)
	}
	ins.one = st
	n := len(ins.cols)
	for i := 0; i < ins.rows; i++ {
		if _, err := st.ExecContext(ins.ctx, ins.args[i*n:(i+1)*n]...); err != nil {
			return fmt.Errorf("insert into %s: %w", ins.table, err)
		}
	}
	return nil
}

func (s *sqliteSink) write(ctx context.Context, b *batch, _ time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	sc := &s.scratch // one writer at a time on SQLite
	sc.prepare(b)
	defer sc.reset()
	packs := &rowInserter{ctx: ctx, tx: tx, table: packsTable, cols: packColumns}
	for i := range sc.packs {
		p := &sc.packs[i]
		if err := packs.add(p.sensorID, p.attributeID, p.start, p.end, int64(p.n), p.min, p.max, p.sum, p.times, p.numbers); err != nil {
			return err
		}
	}
	if err := packs.finish(); err != nil {
		return err
	}
	vals := &rowInserter{ctx: ctx, tx: tx, table: valuesTable, cols: valueColumns}
	for _, v := range sc.others {
		var num, payload any
		if v.Kind == KindNumber {
			num = v.Number
		} else {
			payload = v.Payload
		}
		if err := vals.add(v.SensorID, v.AttributeID, v.TimeUS, v.ServerTimeUS, int64(v.Kind), num, payload); err != nil {
			return err
		}
	}
	if err := vals.finish(); err != nil {
		return err
	}
	blocks := &rowInserter{ctx: ctx, tx: tx, table: blocksTable, cols: blockColumns}
	for _, ba := range sc.blocks {
		bl := ba.b
		samples := ba.c.blockSamples(bl)
		end, lo, hi, sum := blockSummary(bl.StartUS, bl.RateHz, samples)
		if err := blocks.add(bl.SensorID, bl.AttributeID, bl.StartUS, bl.ServerTimeUS, bl.RateHz, int64(bl.n), packSamples(nil, samples),
			end, lo, hi, sum); err != nil {
			return err
		}
	}
	if err := blocks.finish(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *sqliteSink) deleteBefore(ctx context.Context, sensorID string, cutoffUS int64) (int64, error) {
	var total int64
	for _, t := range pgTables {
		q := fmt.Sprintf(`DELETE FROM %s WHERE %s < ?`, t.name, t.timeCol) //nolint:gosec // G201: table and column names are constants
		args := []any{cutoffUS}
		if sensorID != "" {
			q += ` AND sensor_id = ?`
			args = append(args, sensorID)
		}
		res, err := s.db.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("delete old rows of %s: %w", t.name, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

func (s *sqliteSink) dropBefore(context.Context, int64) ([]string, error) { return nil, nil }
