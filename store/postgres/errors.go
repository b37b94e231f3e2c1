package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loomhq/loom/store"
)

// mapErr turns the database's refusals of a value into store.ErrInvalid:
// a value PostgreSQL cannot keep (text with a NUL byte, a key too long to
// index, a number out of range) is the caller's bad input, which SQLite
// would have taken, not a failure of the store. Other errors pass as they
// are.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	switch pe.SQLState()[:2] {
	case "22", // data exception: invalid text, out of range
		"54": // program limit exceeded: an index row too large
		return fmt.Errorf("%w: the database refused a value: %s", store.ErrInvalid, pe.Message)
	}
	return err
}

// db runs single statements on the pool, outside a transaction, with
// their errors mapped by mapErr.
type db struct{ pool *pgxpool.Pool }

// Exec runs a statement that returns no rows.
func (d db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.pool.Exec(ctx, sql, args...)
	return tag, mapErr(err)
}

// Query runs a statement that returns rows.
func (d db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return mappedRows{rows}, nil
}

// QueryRow runs a statement that returns at most one row.
func (d db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return mappedRow{d.pool.QueryRow(ctx, sql, args...)}
}

// mappedRows are rows whose errors mapErr maps.
type mappedRows struct{ pgx.Rows }

func (r mappedRows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }

func (r mappedRows) Err() error { return mapErr(r.Rows.Err()) }

// mappedRow is a row whose error mapErr maps.
type mappedRow struct{ pgx.Row }

func (r mappedRow) Scan(dest ...any) error { return mapErr(r.Row.Scan(dest...)) }
