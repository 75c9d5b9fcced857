package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sensocto/sensocto"

// pkg is one Go package directory under server/internal.
type pkg struct {
	dir     string // relative to server/internal, slash-separated
	name    string
	doc     bool
	imports map[string]bool // of non-test files
}

func loadPackages(t *testing.T) []pkg {
	t.Helper()
	root := ".."
	var pkgs []pkg
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		p := pkg{imports: map[string]bool{}}
		rel, _ := filepath.Rel(root, path)
		p.dir = filepath.ToSlash(rel)
		fset := token.NewFileSet()
		goFiles := 0
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			goFiles++
			f, err := parser.ParseFile(fset, filepath.Join(path, n), nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			p.name = f.Name.Name
			if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
				p.doc = true
			}
			for _, imp := range f.Imports {
				ip, _ := strconv.Unquote(imp.Path.Value)
				p.imports[ip] = true
			}
		}
		if goFiles > 0 {
			pkgs = append(pkgs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk server/internal: %v", err)
	}
	if len(pkgs) < 3 {
		t.Fatalf("found only %d packages under server/internal; is the walk rooted right?", len(pkgs))
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	t.Parallel()
	for _, p := range loadPackages(t) {
		if !p.doc {
			t.Errorf("server/internal/%s: package %s has no doc comment starting %q that says what it owns", p.dir, p.name, "Package "+p.name+" ")
		}
	}
}

// platform packages may be used by everyone and use no domain.
var platform = map[string]bool{
	"config": true, "logging": true, "database": true, "httpserver": true, "rpc": true,
	"apperr": true, "auth": true, "buildinfo": true, "archtest": true,
}

// tools are client programs inside the binary (sensocto loadgen): they speak the API
// through the generated clients like any outside client, so they are neither domains
// nor handlers, and nothing in the server imports them but the command.
var tools = map[string]bool{"loadgen": true}

func isHandler(dir string) bool { return strings.HasSuffix(dir, "rpc") && dir != "rpc" }

func TestLayering(t *testing.T) {
	t.Parallel()
	internal := module + "/server/internal/"
	for _, p := range loadPackages(t) {
		top := strings.SplitN(p.dir, "/", 2)[0]
		for imp := range p.imports {
			switch {
			case platform[top]:
				if strings.HasPrefix(imp, internal) {
					dep := strings.SplitN(strings.TrimPrefix(imp, internal), "/", 2)[0]
					if !platform[dep] {
						t.Errorf("platform package %s imports %s: platform packages never import domains or handlers", p.dir, imp)
					}
				}
			case isHandler(top):
				if strings.HasPrefix(imp, module+"/ent") || imp == "database/sql" || imp == internal+"database" {
					t.Errorf("handler package %s imports %s: handlers call domains, never the database", p.dir, imp)
				}
			case top == "app":
				// The wiring point may import anything.
			case tools[top]:
				if strings.HasPrefix(imp, internal) {
					t.Errorf("tool package %s imports %s: tools use only the public API (gen/)", p.dir, imp)
				}
			default: // a domain
				if imp == "connectrpc.com/connect" || strings.HasPrefix(imp, module+"/gen") || imp == "net/http" {
					t.Errorf("domain package %s imports %s: domains never import Connect, gen/ or net/http", p.dir, imp)
				}
				if strings.HasPrefix(imp, internal) {
					dep := strings.SplitN(strings.TrimPrefix(imp, internal), "/", 2)[0]
					if isHandler(dep) || dep == "app" {
						t.Errorf("domain package %s imports %s: domains never import handlers or the wiring", p.dir, imp)
					}
				}
			}
		}
	}
}
