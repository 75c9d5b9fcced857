package schemadiff_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"github.com/sensocto/sensocto/migrations"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/database/schemadiff"
)

// dialects runs SQLite always and PostgreSQL when SENSOCTO_TEST_POSTGRES_URL is set.
func dialects(t *testing.T) []string { return dbtest.Dialects(t) }

func openDev(t *testing.T, dialect string) *schemadiff.DevDB {
	t.Helper()
	dev, err := schemadiff.OpenDevDB(t.Context(), dialect, os.Getenv(dbtest.PostgresURLEnv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dev.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return dev
}

// embedded returns a private in-memory copy of the embedded migrations.
func embedded(t *testing.T, dialect string) atlasmigrate.Dir {
	t.Helper()
	dir, err := migrations.Dir(dialect)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSchemaAndMigrationsAgree is the test form of `entmigrate -check`: it fails when
// someone changed ent/schema without generating a migration.
func TestSchemaAndMigrationsAgree(t *testing.T) {
	t.Parallel()
	for _, dialect := range dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			if err := schemadiff.Check(t.Context(), openDev(t, dialect), embedded(t, dialect)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckDetectsMissingMigration(t *testing.T) {
	t.Parallel()
	for _, dialect := range dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			err := schemadiff.Check(t.Context(), openDev(t, dialect), &atlasmigrate.MemDir{})
			if !errors.Is(err, schemadiff.ErrOutOfSync) {
				t.Fatalf("Check(empty dir) = %v, want ErrOutOfSync", err)
			}
			if !strings.Contains(err.Error(), "CREATE TABLE") {
				t.Errorf("error does not show the missing SQL: %v", err)
			}
		})
	}
}

func TestCheckDetectsBadSum(t *testing.T) {
	t.Parallel()
	dir := embedded(t, schemadiff.SQLite)
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	// Edit an applied migration without updating atlas.sum.
	if err := dir.WriteFile(files[0].Name(), append(files[0].Bytes(), []byte("-- edited\n")...)); err != nil {
		t.Fatal(err)
	}
	err = schemadiff.Check(t.Context(), openDev(t, schemadiff.SQLite), dir)
	if !errors.Is(err, atlasmigrate.ErrChecksumMismatch) {
		t.Fatalf("Check(edited file) = %v, want checksum mismatch", err)
	}
}

func TestGenerateIsNoopWhenInSync(t *testing.T) {
	t.Parallel()
	dir := embedded(t, schemadiff.SQLite)
	written, err := schemadiff.Generate(t.Context(), openDev(t, schemadiff.SQLite), dir, schemadiff.NewVersion(), "nothing")
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 0 {
		t.Fatalf("Generate wrote %v for an unchanged schema", written)
	}
}

func TestGenerateWritesInitialMigration(t *testing.T) {
	t.Parallel()
	dir := &atlasmigrate.MemDir{}
	written, err := schemadiff.Generate(t.Context(), openDev(t, schemadiff.SQLite), dir, "20250101000000", "init")
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || written[0] != "20250101000000_init.sql" {
		t.Fatalf("written = %v", written)
	}
	if err := atlasmigrate.Validate(dir); err != nil {
		t.Fatalf("generated directory invalid: %v", err)
	}
}
