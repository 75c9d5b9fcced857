// Package frontend owns the built single-page app (the Svelte sources next to this file,
// compiled by `npm run build` into build/) and hands it to the HTTP server as a file
// system, so one binary serves both the API and the app.
//
// A fresh clone holds only build/.gitkeep: the package compiles without Node, and Built
// reports false until the SPA has been built.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:build
var buildFS embed.FS

// Assets returns the built SPA rooted at build/ (index.html, favicon.svg, _app/...).
func Assets() (fs.FS, error) {
	return fs.Sub(buildFS, "build")
}

// Built reports whether the embedded SPA contains index.html, that is whether
// `npm run build` ran before the binary was compiled.
func Built() bool {
	_, err := fs.Stat(buildFS, "build/index.html")
	return err == nil
}
