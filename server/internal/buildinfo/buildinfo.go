// Package buildinfo owns the identity of the running binary: its version (set at link
// time with -ldflags "-X github.com/sensocto/sensocto/server/internal/buildinfo.Version=v1.2.3",
// otherwise taken from the module build info) and the Go version it was built with.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at link time; empty means "use the module version or dev".
var Version string

// String returns the version of the binary.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// GoVersion returns the Go version the binary was built with.
func GoVersion() string { return runtime.Version() }
