// Command apirules writes the web app's copy of the API's id rules and limits,
// frontend/src/lib/gen/limits.ts, from server/apirules, so the app and the server share
// one definition. It runs in `go tool task generate` (after buf, which cleans
// frontend/src/lib/gen).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sensocto/sensocto/server/apirules"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: apirules OUTFILE")
		os.Exit(2)
	}
	out := os.Args[1]
	if err := os.MkdirAll(filepath.Dir(out), 0o750); err != nil { //nolint:gosec // G703: the output path is the developer's own argument
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, []byte(apirules.TypeScript()), 0o600); err != nil { //nolint:gosec // G703: as MkdirAll
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
