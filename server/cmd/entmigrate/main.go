// Command entmigrate generates and checks the versioned SQL migrations in migrations/
// from the ent schema, for every dialect (PostgreSQL and SQLite).
//
//	go run ./server/cmd/entmigrate -name add_widgets   # write a new migration if the schema changed
//	go run ./server/cmd/entmigrate -check              # fail if schema, migrations and atlas.sum disagree
//
// The PostgreSQL diff needs a server to create a scratch dev database on, taken from
// SENSOCTO_DEV_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
// Run it from the repository root or pass -dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"

	atlasmigrate "ariga.io/atlas/sql/migrate"

	"github.com/sensocto/sensocto/server/internal/database/schemadiff"
)

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "entmigrate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("entmigrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		name     = fs.String("name", "", "name of the new migration (lower_snake_case); required unless -check")
		check    = fs.Bool("check", false, "only check that the schema, the migrations and atlas.sum agree; write nothing")
		dir      = fs.String("dir", "migrations", "directory holding one migration directory per dialect")
		dialects = fs.String("dialect", strings.Join(schemadiff.Dialects, ","), "comma-separated dialects to process")
		pgURL    = fs.String("postgres-url", schemadiff.DevPostgresURL(), "PostgreSQL server for scratch dev databases (env "+schemadiff.DevPostgresURLEnv+")")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*check && !validName.MatchString(*name) {
		return fmt.Errorf("-name is required and must match %s", validName)
	}
	// One version for all dialects keeps the directories parallel.
	version := schemadiff.NewVersion()
	var failed []error
	for _, d := range strings.Split(*dialects, ",") {
		d = strings.TrimSpace(d)
		if err := runDialect(ctx, d, filepath.Join(*dir, d), version, *name, *check, *pgURL, stdout); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

func runDialect(ctx context.Context, dialectName, path, version, name string, check bool, pgURL string, stdout io.Writer) (err error) {
	if check {
		if _, statErr := os.Stat(path); statErr != nil {
			return fmt.Errorf("%s: %w", dialectName, statErr)
		}
	} else if err := os.MkdirAll(path, 0o750); err != nil {
		return fmt.Errorf("%s: %w", dialectName, err)
	}
	dir, err := atlasmigrate.NewLocalDir(path)
	if err != nil {
		return fmt.Errorf("%s: open migration directory: %w", dialectName, err)
	}
	dev, err := schemadiff.OpenDevDB(ctx, dialectName, pgURL)
	if err != nil {
		return fmt.Errorf("%s: %w", dialectName, err)
	}
	defer func() {
		if cerr := dev.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", dialectName, cerr))
		}
	}()
	if check {
		if err := schemadiff.Check(ctx, dev, dir); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(stdout, "%s: ent schema and %s agree\n", dialectName, path)
		return nil
	}
	written, err := schemadiff.Generate(ctx, dev, dir, version, name)
	if err != nil {
		return err
	}
	if len(written) == 0 {
		_, _ = fmt.Fprintf(stdout, "%s: no schema changes; nothing written\n", dialectName)
		return nil
	}
	for _, f := range written {
		_, _ = fmt.Fprintf(stdout, "%s: wrote %s\n", dialectName, filepath.Join(path, f))
	}
	return nil
}
