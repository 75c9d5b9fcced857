package simulator

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/sensocto/sensocto/server/internal/simulator/scenario"
)

//go:embed scenarios/*.yaml
var builtinFiles embed.FS

// Builtin returns the built-in scenario files (*.yaml at its root).
func Builtin() fs.FS {
	sub, err := fs.Sub(builtinFiles, "scenarios")
	if err != nil {
		panic(fmt.Sprintf("simulator: embedded scenarios: %v", err)) // cannot happen: the directory is embedded
	}
	return sub
}

// LoadLibrary loads the built-in scenarios and those of dir (the value of
// SENSOCTO_SCENARIO_DIR; empty for none); a file in dir overrides a built-in of
// the same name. See scenario.LoadLibrary for partial failures.
func LoadLibrary(dir string) (*scenario.Library, error) {
	lib, err := scenario.LoadLibrary(Builtin(), dir)
	if err != nil {
		return lib, fmt.Errorf("load scenario library: %w", err)
	}
	return lib, nil
}
