package migrations_test

import (
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"github.com/sensocto/sensocto/migrations"
)

func TestEmbeddedDirsAreValid(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{migrations.Postgres, migrations.SQLite} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dir, err := migrations.Dir(dialect)
			if err != nil {
				t.Fatal(err)
			}
			if err := atlasmigrate.Validate(dir); err != nil {
				t.Fatalf("atlas.sum does not match the %s migrations: %v", dialect, err)
			}
			files, err := dir.Files()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatalf("no %s migrations embedded", dialect)
			}
			for _, f := range files {
				if !strings.HasSuffix(f.Name(), ".sql") {
					t.Errorf("unexpected file %s", f.Name())
				}
				if _, err := f.Stmts(); err != nil {
					t.Errorf("%s: %v", f.Name(), err)
				}
			}
		})
	}
}

func TestDirsHaveSameVersions(t *testing.T) {
	t.Parallel()
	versions := map[string][]string{}
	for _, dialect := range []string{migrations.Postgres, migrations.SQLite} {
		dir, err := migrations.Dir(dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			versions[dialect] = append(versions[dialect], f.Version()+"_"+f.Desc())
		}
	}
	pg, lite := strings.Join(versions[migrations.Postgres], ","), strings.Join(versions[migrations.SQLite], ",")
	if pg != lite {
		t.Errorf("postgres and sqlite migrations differ:\npostgres: %s\nsqlite:   %s", pg, lite)
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	if _, err := migrations.Dir("mysql"); err == nil {
		t.Fatal("want error for unknown dialect")
	}
}
