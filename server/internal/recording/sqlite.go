package recording

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// sqliteSchema is the idempotent DDL of the measurement store on SQLite: the same two
// tables as on PostgreSQL, unpartitioned.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS measurements (
		sensor_id TEXT NOT NULL,
		attribute_id TEXT NOT NULL,
		time_us INTEGER NOT NULL,
		server_time_us INTEGER NOT NULL,
		kind INTEGER NOT NULL,
		number REAL,
		payload BLOB
	)`,
	`CREATE INDEX IF NOT EXISTS measurements_sensor_attr_time ON measurements (sensor_id, attribute_id, time_us)`,
	`CREATE TABLE IF NOT EXISTS measurement_blocks (
		sensor_id TEXT NOT NULL,
		attribute_id TEXT NOT NULL,
		start_time_us INTEGER NOT NULL,
		server_time_us INTEGER NOT NULL,
		rate_hz REAL NOT NULL,
		count INTEGER NOT NULL,
		samples BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS measurement_blocks_sensor_attr_time ON measurement_blocks (sensor_id, attribute_id, start_time_us)`,
}

// sqliteRowsPerInsert is how many rows one prepared INSERT carries (7 parameters
// each, well below SQLite's limit of 32766).
const sqliteRowsPerInsert = 128

type sqliteSink struct {
	db *sql.DB
}

func (s *sqliteSink) ensure(ctx context.Context, _ time.Time) error {
	// Transactions begin IMMEDIATE (see database), so concurrent starts serialise.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range sqliteSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create measurement tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
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
	vals := &rowInserter{ctx: ctx, tx: tx, table: valuesTable, cols: valueColumns}
	blocks := &rowInserter{ctx: ctx, tx: tx, table: blocksTable, cols: blockColumns}
	for _, c := range b.chunks {
		for i := range c.values {
			v := &c.values[i]
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
		for i := range c.blocks {
			bl := &c.blocks[i]
			if err := blocks.add(bl.SensorID, bl.AttributeID, bl.StartUS, bl.ServerTimeUS, bl.RateHz, int64(bl.n), packSamples(nil, c.blockSamples(bl))); err != nil {
				return err
			}
		}
	}
	if err := vals.finish(); err != nil {
		return err
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
