package apikit_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// swiftTemplate is the part of buf.gen.swift.yaml this test reads.
type swiftTemplate struct {
	Version string `yaml:"version"`
	Clean   bool   `yaml:"clean"`
	Plugins []struct {
		Remote string   `yaml:"remote"`
		Local  any      `yaml:"local"`
		Out    string   `yaml:"out"`
		Opt    []string `yaml:"opt"`
	} `yaml:"plugins"`
	Inputs []struct {
		Directory string   `yaml:"directory"`
		Paths     []string `yaml:"paths"`
	} `yaml:"inputs"`
}

// TestSwiftTemplate validates buf.gen.swift.yaml without running it (its remote plugins
// need network access): buf v2, the SwiftProtobuf and Connect-Swift plugins at pinned
// versions with public visibility, both into the SwiftPM target of gen/swift/Package.swift,
// whose dependency versions match the plugin versions.
func TestSwiftTemplate(t *testing.T) {
	var tpl swiftTemplate
	if err := yaml.Unmarshal(readFile(t, "buf.gen.swift.yaml"), &tpl); err != nil {
		t.Fatalf("buf.gen.swift.yaml: %v", err)
	}
	if tpl.Version != "v2" {
		t.Errorf("version %q, want v2", tpl.Version)
	}
	if len(tpl.Inputs) != 1 || tpl.Inputs[0].Directory != "." || !slices.Equal(tpl.Inputs[0].Paths, []string{"proto/sensocto"}) {
		t.Errorf("inputs %+v, want the directory . with paths [proto/sensocto] (our API, not the vendored buf/validate)", tpl.Inputs)
	}
	pkg := string(readFile(t, "gen/swift/Package.swift"))
	target := regexp.MustCompile(`path:\s*"([^"]+)"`).FindStringSubmatch(pkg)
	if target == nil {
		t.Fatal("gen/swift/Package.swift has no target path")
	}
	plugins := map[string]string{ // remote plugin → SwiftPM package it needs
		"buf.build/apple/swift":      "https://github.com/apple/swift-protobuf.git",
		"buf.build/connectrpc/swift": "https://github.com/connectrpc/connect-swift.git",
	}
	seen := map[string]bool{}
	for _, p := range tpl.Plugins {
		name, version, ok := strings.Cut(p.Remote, ":")
		pkgURL, known := plugins[name]
		if p.Local != nil || !known {
			t.Errorf("plugin %q: want only the remote plugins %v", p.Remote, plugins)
			continue
		}
		seen[name] = true
		if !ok || !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(version) {
			t.Errorf("plugin %s is not pinned to a version (name:vX.Y.Z)", p.Remote)
		}
		if want := "gen/swift/" + target[1]; p.Out != want {
			t.Errorf("plugin %s writes to %q, want the Package.swift target %q", name, p.Out, want)
		}
		if !slices.Contains(p.Opt, "Visibility=Public") {
			t.Errorf("plugin %s options %v lack Visibility=Public (an app imports the package)", name, p.Opt)
		}
		dep := regexp.MustCompile(`\.package\(url:\s*"` + regexp.QuoteMeta(pkgURL) + `",\s*from:\s*"([^"]+)"\)`).FindStringSubmatch(pkg)
		if dep == nil {
			t.Errorf("gen/swift/Package.swift does not depend on %s with a from: version", pkgURL)
		} else if "v"+dep[1] != version {
			t.Errorf("plugin %s is %s but Package.swift takes %s from %s: generated code and runtime must match", name, version, pkgURL, dep[1])
		}
	}
	for name := range plugins {
		if !seen[name] {
			t.Errorf("buf.gen.swift.yaml has no %s plugin", name)
		}
	}
	if !strings.Contains(string(readFile(t, "buf.gen.swift.yaml")), "connectrpc/swift") || !strings.Contains(pkg, `.product(name: "Connect", package: "connect-swift")`) {
		t.Error("the target must depend on the Connect product of connect-swift")
	}

	// The Go/TS template must not delete gen/swift when it regenerates.
	var goTpl struct {
		Clean   bool `yaml:"clean"`
		Plugins []struct {
			Out string `yaml:"out"`
		} `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(readFile(t, "buf.gen.yaml"), &goTpl); err != nil {
		t.Fatal(err)
	}
	for _, p := range goTpl.Plugins {
		if goTpl.Clean && strings.HasPrefix("gen/swift/", strings.TrimSuffix(p.Out, "/")+"/") {
			t.Errorf("buf.gen.yaml has clean: true and writes to %q, which would delete gen/swift", p.Out)
		}
	}
}
