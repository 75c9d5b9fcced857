package apikit_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"gopkg.in/yaml.v3"

	"github.com/sensocto/sensocto/gen/openapi"
	_ "github.com/sensocto/sensocto/gen/sensocto/v1" // registers the published descriptors
)

// TestOpenAPIDocument checks the committed OpenAPI document against the published
// descriptors: every RPC of every sensocto.v1 service has its operation (POST, plus GET
// for NO_SIDE_EFFECTS RPCs; application/connect+json for streams), and every schema
// reference resolves.
func TestOpenAPIDocument(t *testing.T) {
	var doc struct {
		OpenAPI    string                               `yaml:"openapi"`
		Paths      map[string]map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(openapi.YAML, &doc); err != nil {
		t.Fatalf("gen/openapi: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	rpcs := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("sensocto.v1", func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			svc := f.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				rpcs++
				path := "/" + string(svc.FullName()) + "/" + string(m.Name())
				ops, ok := doc.Paths[path]
				if !ok {
					t.Errorf("no path %s", path)
					continue
				}
				body, _ := ops["post"]["requestBody"].(map[string]any)
				content, _ := body["content"].(map[string]any)
				want := "application/json"
				if m.IsStreamingClient() || m.IsStreamingServer() {
					want = "application/connect+json"
				}
				if _, ok := content[want]; !ok {
					t.Errorf("%s: POST request body is not %s: %v", path, want, content)
				}
			}
		}
		return true
	})
	if rpcs < 30 {
		t.Fatalf("found only %d RPCs in the published descriptors", rpcs)
	}
	for _, ref := range strings.Split(string(openapi.YAML), "$ref: ")[1:] {
		name := strings.Trim(strings.SplitN(ref, "\n", 2)[0], `"'`)
		if !strings.HasPrefix(name, "#/components/schemas/") || doc.Components.Schemas[strings.TrimPrefix(name, "#/components/schemas/")] == nil {
			t.Errorf("unresolved reference %s", name)
		}
	}
	if _, ok := doc.Paths["/sensocto.v1.SensorService/GetSensor"]["get"]; !ok {
		t.Error("GetSensor (NO_SIDE_EFFECTS) has no GET operation")
	}
}
