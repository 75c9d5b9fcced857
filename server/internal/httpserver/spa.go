package httpserver

import (
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Cache policies for the SPA.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNoCache   = "no-cache"
)

// immutablePrefixes hold content-hashed build output (SvelteKit, Vite).
var immutablePrefixes = []string{"_app/immutable/", "assets/"}

// staticExts are the extensions of files a build may put anywhere (favicon.ico,
// robots.txt, manifest.webmanifest, a source map): a missing one is a 404, not the
// app. Any other path is an app route, dots included: a sensor id such as
// "sim.single_person.person_1" ends in ".person_1", which is no file extension.
var staticExts = map[string]bool{
	".js": true, ".mjs": true, ".css": true, ".map": true, ".json": true, ".webmanifest": true,
	".html": true, ".txt": true, ".xml": true,
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".avif": true, ".svg": true, ".ico": true,
	".woff": true, ".woff2": true, ".ttf": true, ".otf": true,
	".wasm": true,
}

// SPAHandler serves the single-page app in fsys (index.html at its root):
//
//   - an existing file is served; content-hashed assets under /_app/immutable/
//     or /assets/ are cached for a year, everything else must revalidate;
//   - any other path gets index.html, so client-side routes work on reload
//     (dotted ones too: /sensors/sim.single_person.person_1);
//   - a path under one of apiPrefixes, a missing file under an asset
//     directory, or a missing file with a static extension (staticExts:
//     /favicon.ico, /missing.js) never falls back: it is a 404, so a
//     mistyped RPC or a stale asset fails loudly.
//
// Only GET and HEAD are allowed.
func SPAHandler(fsys fs.FS, apiPrefixes []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range apiPrefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				http.NotFound(w, r)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if serveFile(w, r, fsys, name) {
			return
		}
		if serveFile(w, r, fsys, path.Join(name, "index.html")) {
			return
		}
		if isAsset(name) || staticExts[strings.ToLower(path.Ext(name))] {
			http.NotFound(w, r)
			return
		}
		if !serveFile(w, r, fsys, "index.html") {
			http.NotFound(w, r)
		}
	})
}

func isAsset(name string) bool {
	for _, p := range immutablePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// serveFile serves the regular file name from fsys and reports whether it
// existed.
func serveFile(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string) bool {
	f, err := fsys.Open(name)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }() // read-only file: nothing to lose on close
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		// Every fs.FS used here (embed.FS, os.DirFS, fstest.MapFS) has
		// seekable files; read the rest into memory otherwise.
		b, err := io.ReadAll(f)
		if err != nil {
			return false
		}
		rs = strings.NewReader(string(b))
	}
	if isAsset(name) {
		w.Header().Set("Cache-Control", cacheImmutable)
	} else {
		w.Header().Set("Cache-Control", cacheNoCache)
	}
	// embed.FS reports a zero modification time, so ServeContent sends no
	// Last-Modified and a revalidation fetches the file again: fine for the
	// small no-cache files, and hashed assets are never revalidated.
	http.ServeContent(w, r, name, st.ModTime(), rs)
	return true
}
