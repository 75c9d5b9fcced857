package archtest

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	module   = "github.com/sensocto/sensocto"
	internal = module + "/server/internal/"
	// repoRoot is the repository's root, seen from this package's directory.
	repoRoot = "../../.."
)

// pkg is one Go package directory of the module.
type pkg struct {
	path    string // import path
	dir     string // relative to server/internal, slash-separated ("" outside it)
	name    string
	doc     bool
	imports map[string]bool // of non-test files
}

// loadModule parses the imports of every package of the module (generated code
// included, the web app's node_modules and testdata excluded): enough to follow imports
// transitively through the module without the go command.
func loadModule(t *testing.T) map[string]*pkg {
	t.Helper()
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != repoRoot && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "frontend") {
			return filepath.SkipDir
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		rel = filepath.ToSlash(rel)
		p := &pkg{path: module + "/" + rel, imports: map[string]bool{}}
		if rel == "." {
			p.path = module
		}
		if d, ok := strings.CutPrefix(p.path, internal); ok {
			p.dir = d
		}
		fset := token.NewFileSet()
		goFiles := 0
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(path, n), nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			if ignored(f) {
				continue // a `go run` script beside a package (//go:build ignore)
			}
			goFiles++
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
			pkgs[p.path] = p
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the module: %v", err)
	}
	n := 0
	for _, p := range pkgs {
		if p.dir != "" {
			n++
		}
	}
	if n < 10 {
		t.Fatalf("found only %d packages under server/internal; is the walk rooted right?", n)
	}
	return pkgs
}

// ignored reports whether f is excluded from every build by a //go:build ignore line.
func ignored(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.TrimSpace(c.Text) == "//go:build ignore" {
				return true
			}
		}
	}
	return false
}

// internalPackages returns the packages under server/internal, sorted by directory.
func internalPackages(pkgs map[string]*pkg) []*pkg {
	var out []*pkg
	for _, p := range pkgs {
		if p.dir != "" {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *pkg) int { return strings.Compare(a.dir, b.dir) })
	return out
}

func TestEveryPackageHasADocComment(t *testing.T) {
	t.Parallel()
	for _, p := range internalPackages(loadModule(t)) {
		if !p.doc {
			t.Errorf("server/internal/%s: package %s has no doc comment starting %q that says what it owns", p.dir, p.name, "Package "+p.name+" ")
		}
	}
}

// platform packages may be used by everyone and use no domain.
var platform = map[string]bool{
	"config": true, "logging": true, "database": true, "httpserver": true, "rpc": true,
	"apperr": true, "auth": true, "authz": true, "ratelimit": true, "buildinfo": true,
	"mail": true, "bus": true, "latest": true, "testkit": true, "archtest": true, "lease": true,
}

// domainLevel is the written order among domains (docs/architecture.md, "Domains and
// their order", shows the same table; TestDomainOrderIsDocumented keeps them equal). A
// domain imports only platform packages and domains of a lower level: never one of its
// own level, never a higher one. Domains being built sit where they are planned; a new
// domain must be added here before it is imported by anything.
var domainLevel = map[string]int{
	// 1: leaves, over platform packages only.
	"attrcatalog": 1, "attention": 1, "loadmon": 1, "recording": 1, "system": 1,
	// 2: live data, users, the back-pressure advice.
	"hub": 2, "accounts": 2, "backpressure": 2,
	// 3: the sensor registry over the hub and the store.
	"sensors": 3,
	// 4: use cases spanning several domains.
	"simulator": 4, "live": 4, "rooms": 4,
	// 5: built over the use cases.
	"roomdoc": 5,
}

// tools are client programs inside the binary (sensocto loadgen): they speak the API
// through the generated clients like any outside client, so they are neither domains
// nor handlers, and nothing in the server imports them but the command.
var tools = map[string]bool{"loadgen": true}

// isHandler reports whether dir is a transport package: <domain>rpc serves a Connect
// service, <domain>http plain HTTP routes (the CSV export).
func isHandler(dir string) bool {
	return (strings.HasSuffix(dir, "rpc") && dir != "rpc") || strings.HasSuffix(dir, "http")
}

// transport reports whether imp is what a domain must not reach: Connect, the generated
// API types, or net/http.
func transport(imp string) bool {
	return imp == "connectrpc.com/connect" || strings.HasPrefix(imp, "connectrpc.com/") ||
		imp == module+"/gen" || strings.HasPrefix(imp, module+"/gen/") || imp == "net/http"
}

func topOf(dir string) string { return strings.SplitN(dir, "/", 2)[0] }

func TestLayering(t *testing.T) {
	t.Parallel()
	pkgs := loadModule(t)
	for _, p := range internalPackages(pkgs) {
		top := topOf(p.dir)
		for imp := range p.imports {
			dep, isInternal := strings.CutPrefix(imp, internal)
			dep = topOf(dep)
			switch {
			case platform[top]:
				if isInternal && !platform[dep] {
					t.Errorf("platform package %s imports %s: platform packages never import domains or handlers", p.dir, imp)
				}
			case isHandler(top):
				if strings.HasPrefix(imp, module+"/ent") || imp == "database/sql" || imp == internal+"database" {
					t.Errorf("handler package %s imports %s: handlers call domains, never the database", p.dir, imp)
				}
			case top == "app":
				// The wiring point may import anything.
			case tools[top]:
				if isInternal {
					t.Errorf("tool package %s imports %s: tools use only the public API (gen/)", p.dir, imp)
				}
			default: // a domain
				if _, ok := domainLevel[top]; !ok {
					t.Errorf("server/internal/%s is neither platform, handler, tool nor a domain in domainLevel: add it to the order (archtest and docs/architecture.md)", top)
					continue
				}
				if !isInternal || dep == top {
					continue
				}
				switch {
				case isHandler(dep) || dep == "app" || tools[dep]:
					t.Errorf("domain package %s imports %s: domains never import handlers, tools or the wiring", p.dir, imp)
				case platform[dep]:
				case domainLevel[dep] == 0:
					t.Errorf("domain package %s imports %s, which is in no layer: add it to domainLevel", p.dir, imp)
				case domainLevel[dep] >= domainLevel[top]:
					t.Errorf("domain package %s (level %d) imports %s (level %d): a domain imports only domains of a lower level (docs/architecture.md)", p.dir, domainLevel[top], imp, domainLevel[dep])
				}
			}
		}
	}
}

// TestDomainsReachNoTransport follows every domain's imports through the module's own
// packages (the generated ent code included) and fails when any of them imports
// Connect, gen/ or net/http: a domain must not speak a transport through a helper
// either. Third-party libraries are not followed (the Prometheus client formats its
// text exposition with net/http's header types; that does not make a domain speak HTTP).
func TestDomainsReachNoTransport(t *testing.T) {
	t.Parallel()
	pkgs := loadModule(t)
	for _, p := range internalPackages(pkgs) {
		top := topOf(p.dir)
		if platform[top] || isHandler(top) || top == "app" || tools[top] {
			continue
		}
		if chain := reachTransport(pkgs, p.path); chain != nil {
			t.Errorf("domain package %s reaches a transport: %s", p.dir, strings.Join(chain, " -> "))
		}
	}
	// Platform packages that domains use must be transport-free too: authz is the
	// pure half of auth.
	for _, dir := range []string{"authz", "apperr", "ratelimit", "database"} {
		if chain := reachTransport(pkgs, internal+dir); chain != nil {
			t.Errorf("platform package %s, used by domains, reaches a transport: %s", dir, strings.Join(chain, " -> "))
		}
	}
}

// reachTransport returns an import chain from the package at path, through the
// module's packages, to a transport import; nil when there is none.
func reachTransport(pkgs map[string]*pkg, path string) []string {
	seen := map[string]bool{}
	var walk func(path string) []string
	walk = func(path string) []string {
		if seen[path] {
			return nil
		}
		seen[path] = true
		p := pkgs[path]
		if p == nil {
			return nil
		}
		imps := make([]string, 0, len(p.imports))
		for imp := range p.imports {
			imps = append(imps, imp)
		}
		slices.Sort(imps)
		for _, imp := range imps {
			if transport(imp) {
				return []string{path, imp}
			}
			if strings.HasPrefix(imp, module+"/") {
				if rest := walk(imp); rest != nil {
					return append([]string{path}, rest...)
				}
			}
		}
		return nil
	}
	return walk(path)
}

// TestTransitiveCheckCatchesAChain proves reachTransport follows a chain and names it.
func TestTransitiveCheckCatchesAChain(t *testing.T) {
	t.Parallel()
	pkgs := map[string]*pkg{
		internal + "a": {imports: map[string]bool{internal + "b": true, "fmt": true}},
		internal + "b": {imports: map[string]bool{internal + "c": true}},
		internal + "c": {imports: map[string]bool{"net/http": true}},
		internal + "d": {imports: map[string]bool{"github.com/prometheus/client_golang/prometheus": true}},
	}
	got := reachTransport(pkgs, internal+"a")
	want := []string{internal + "a", internal + "b", internal + "c", "net/http"}
	if !slices.Equal(got, want) {
		t.Errorf("chain = %v, want %v", got, want)
	}
	if got := reachTransport(pkgs, internal+"d"); got != nil {
		t.Errorf("a third-party import was followed: %v", got)
	}
}

var orderRow = regexp.MustCompile(`^\|\s*(\d+)\s*\|([^|]*)\|`)

// TestDomainOrderIsDocumented reads the table after the marker <!-- domain-order --> in
// docs/architecture.md: one row per level, the level's domains in backquotes, equal to
// domainLevel.
func TestDomainOrderIsDocumented(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	documented := map[string]int{}
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "<!-- domain-order -->" {
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		if line == "" && len(documented) > 0 {
			break
		}
		m := orderRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		level, _ := strconv.Atoi(m[1])
		for _, name := range regexp.MustCompile("`([a-z0-9]+)`").FindAllStringSubmatch(m[2], -1) {
			documented[name[1]] = level
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for d, l := range domainLevel {
		if documented[d] != l {
			t.Errorf("docs/architecture.md puts domain %s at level %d, archtest at %d", d, documented[d], l)
		}
	}
	for d, l := range documented {
		if _, ok := domainLevel[d]; !ok {
			t.Errorf("docs/architecture.md lists domain %s (level %d), archtest does not", d, l)
		}
	}
}
