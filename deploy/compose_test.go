// Package deploy holds no code: its test checks the deployment files (compose.yaml, the
// env files, the Caddyfile) against the repository, since they cannot run here.
package deploy

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Build       map[string]string `yaml:"build"`
		EnvFile     string            `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   yaml.Node         `yaml:"depends_on"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck map[string]any    `yaml:"healthcheck"`
	} `yaml:"services"`
}

// envFile reads KEY=value lines.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=value: %q", path, line)
		}
		out[k] = v
	}
	return out
}

// documentedVars are the variables of the README's configuration table (which
// server/internal/config tests against the variables the server reads).
func documentedVars(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(SENSOCTO_[A-Z0-9_]+)`").FindAllStringSubmatch(string(readme), -1) {
		out[m[1]] = true
	}
	if len(out) < 10 {
		t.Fatalf("found %d variables in the README's table", len(out))
	}
	return out
}

func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	known := documentedVars(t)
	checkVars := func(where string, env map[string]string) {
		for k := range env {
			if strings.HasPrefix(k, "SENSOCTO_") && !known[k] {
				t.Errorf("%s sets %s, which the server does not read (not in the README's table)", where, k)
			}
		}
	}

	// PostgreSQL and NATS with JetStream, both with a health check the nodes wait for.
	pg, nats := c.Services["postgres"], c.Services["nats"]
	if pg.Image == "" || pg.Healthcheck == nil {
		t.Error("postgres: an image and a health check")
	}
	if nats.Image == "" || !slices.Contains(nats.Command, "-js") || nats.Healthcheck == nil {
		t.Errorf("nats: an image, JetStream (-js) and a health check; have %v", nats.Command)
	}

	shared := envFile(t, "sensocto.env")
	checkVars("sensocto.env", shared)
	checkVars("single-node.env", envFile(t, "single-node.env"))
	if !strings.HasPrefix(shared["SENSOCTO_DATABASE_URL"], "postgres://") || !strings.Contains(shared["SENSOCTO_DATABASE_URL"], "@postgres:5432/") {
		t.Errorf("the nodes share the postgres service: SENSOCTO_DATABASE_URL=%q", shared["SENSOCTO_DATABASE_URL"])
	}
	if shared["SENSOCTO_NATS_URL"] != "nats://nats:4222" {
		t.Errorf("the nodes join the nats service: SENSOCTO_NATS_URL=%q", shared["SENSOCTO_NATS_URL"])
	}
	if len(shared["SENSOCTO_SECRET_KEY"]) < 32 {
		t.Error("one secret of at least 32 characters for every node (SENSOCTO_SECRET_KEY)")
	}

	// Three nodes from the repository's Dockerfile, each with its own id, all
	// waiting for healthy PostgreSQL and NATS.
	ids := map[string]bool{}
	var nodes []string
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "node") {
			continue
		}
		nodes = append(nodes, name)
		if s.Build["dockerfile"] != "deploy/Dockerfile" || s.Build["context"] != ".." {
			t.Errorf("%s: built from deploy/Dockerfile at the repository root, have %v", name, s.Build)
		}
		if s.EnvFile != "sensocto.env" {
			t.Errorf("%s: env_file sensocto.env, have %q", name, s.EnvFile)
		}
		checkVars(name, s.Environment)
		id := s.Environment["SENSOCTO_NODE_ID"]
		if id == "" || ids[id] {
			t.Errorf("%s: a SENSOCTO_NODE_ID of its own, have %q", name, id)
		}
		ids[id] = true
		var deps map[string]map[string]string
		if err := s.DependsOn.Decode(&deps); err != nil || deps["postgres"]["condition"] != "service_healthy" || deps["nats"]["condition"] != "service_healthy" {
			t.Errorf("%s: depends on healthy postgres and nats (%v)", name, err)
		}
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"node1", "node2", "node3"}) {
		t.Fatalf("nodes %v, want node1..node3", nodes)
	}
	if _, err := os.Stat("Dockerfile"); err != nil {
		t.Error(err)
	}

	// The load balancer: Caddy with the repository's Caddyfile, h2c to every node.
	lb := c.Services["lb"]
	if !slices.Contains(lb.Volumes, "./Caddyfile:/etc/caddy/Caddyfile:ro") {
		t.Fatalf("lb mounts ./Caddyfile, have %v", lb.Volumes)
	}
	caddy, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cf := string(caddy)
	for _, want := range []string{"node1:8080", "node2:8080", "node3:8080", "versions h2c 2", "protocols h1 h2 h2c", "health_uri /healthz", "flush_interval -1"} {
		if !strings.Contains(cf, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
	if strings.Count(cf, "{") != strings.Count(cf, "}") {
		t.Error("Caddyfile: unbalanced braces")
	}
}
