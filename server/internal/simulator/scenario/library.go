package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Ext is the extension of scenario files; the name is the file name without it.
const Ext = ".yaml"

// Library is an immutable set of scenarios by name.
type Library struct {
	byName map[string]*Scenario
}

// LoadFS parses one scenario file of fsys. source prefixes the file name in
// Scenario.Source and in errors.
func LoadFS(fsys fs.FS, file, source string) (*Scenario, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", file, err)
	}
	return Parse(strings.TrimSuffix(path.Base(file), Ext), source+file, data)
}

// LoadLibrary loads every *.yaml file at the top of builtin (embedded files,
// named "builtin:<file>") and then of dir (when not empty); a file in dir
// overrides a built-in of the same name. Files that fail to load are left out
// and their errors are returned joined, alongside the library of the others, so
// one bad file in a user directory does not hide the rest.
func LoadLibrary(builtin fs.FS, dir string) (*Library, error) {
	l := &Library{byName: map[string]*Scenario{}}
	var errs []error
	if builtin != nil {
		errs = append(errs, l.addAll(builtin, "builtin:")...)
	}
	if dir != "" {
		info, err := os.Stat(dir)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("open scenario directory: %w", err))
		case !info.IsDir():
			errs = append(errs, fmt.Errorf("open scenario directory %s: not a directory", dir))
		default:
			errs = append(errs, l.addAll(os.DirFS(dir), strings.TrimSuffix(dir, "/")+"/")...)
		}
	}
	return l, errors.Join(errs...)
}

func (l *Library) addAll(fsys fs.FS, source string) []error {
	files, err := fs.Glob(fsys, "*"+Ext)
	if err != nil {
		return []error{fmt.Errorf("list scenarios in %s: %w", source, err)}
	}
	var errs []error
	for _, f := range files {
		sc, err := LoadFS(fsys, f, source)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.byName[sc.Name] = sc
	}
	return errs
}

// Get returns the scenario with that name.
func (l *Library) Get(name string) (*Scenario, bool) {
	sc, ok := l.byName[name]
	return sc, ok
}

// Names returns the scenario names, sorted.
func (l *Library) Names() []string {
	names := make([]string, 0, len(l.byName))
	for n := range l.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Summaries returns every scenario's summary, sorted by attribute count and
// then name, as the original's list.
func (l *Library) Summaries() []Summary {
	out := make([]Summary, 0, len(l.byName))
	for _, sc := range l.byName {
		out = append(out, sc.Summary())
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if a.Attributes != b.Attributes {
			return a.Attributes - b.Attributes
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
