package contract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The published contract: importing the generated code registers its descriptors.
	_ "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// apiPackage is the package of the published API; other reflected services (health,
// reflection) are infrastructure checked separately.
const apiPackage = "sensocto.v1."

// served asks the server by gRPC reflection which services it serves and checks that
// each sensocto.v1 service it reflects matches the published one method by method. It
// returns the served API procedures ("/sensocto.v1.X/Y").
func (s *suite) served(ctx context.Context) []string {
	var procedures []string
	s.check(ctx, protocols[1], []string{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"},
		"reflection to list the served sensocto.v1 services, each the same as the published contract",
		func(ctx context.Context) error {
			client := grpcreflect.NewClient(s.cfg.HTTPClient, s.cfg.URL, connect.WithGRPC())
			stream := client.NewStream(ctx)
			defer func() { _, _ = stream.Close() }()
			names, err := stream.ListServices()
			if err != nil {
				return must("ListServices", err)
			}
			var problems []string
			for _, name := range names {
				if !strings.HasPrefix(string(name), apiPackage) {
					continue
				}
				files, err := stream.FileContainingSymbol(name)
				if err != nil {
					return must("FileContainingSymbol "+string(name), err)
				}
				procs, diff := compareService(name, files)
				problems = append(problems, diff...)
				procedures = append(procedures, procs...)
			}
			if len(procedures) == 0 {
				return fmt.Errorf("at least one sensocto.v1 service, got %v", names)
			}
			if len(problems) > 0 {
				return errors.New(strings.Join(problems, "; "))
			}
			return nil
		})
	sort.Strings(procedures)
	return procedures
}

// compareService returns the procedures of the reflected service name and how it differs
// from the published service of that name.
func compareService(name protoreflect.FullName, files []*descriptorpb.FileDescriptorProto) ([]string, []string) {
	var reflected *descriptorpb.ServiceDescriptorProto
	for _, f := range files {
		for _, sd := range f.GetService() {
			if protoreflect.FullName(f.GetPackage()+"."+sd.GetName()) == name {
				reflected = sd
			}
		}
	}
	if reflected == nil {
		return nil, []string{fmt.Sprintf("%s: reflection returned no descriptor for it", name)}
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	published, ok := d.(protoreflect.ServiceDescriptor)
	if err != nil || !ok {
		return nil, []string{fmt.Sprintf("%s: served but not in the published contract this suite was built with (update the suite)", name)}
	}
	var procs, problems []string
	seen := map[string]bool{}
	for _, m := range reflected.GetMethod() {
		procs = append(procs, "/"+string(name)+"/"+m.GetName())
		seen[m.GetName()] = true
		pm := published.Methods().ByName(protoreflect.Name(m.GetName()))
		if pm == nil {
			problems = append(problems, fmt.Sprintf("%s/%s: served but not published", name, m.GetName()))
			continue
		}
		if strings.TrimPrefix(m.GetInputType(), ".") != string(pm.Input().FullName()) ||
			strings.TrimPrefix(m.GetOutputType(), ".") != string(pm.Output().FullName()) ||
			m.GetClientStreaming() != pm.IsStreamingClient() || m.GetServerStreaming() != pm.IsStreamingServer() {
			problems = append(problems, fmt.Sprintf("%s/%s: reflected signature differs from the published one", name, m.GetName()))
		}
	}
	for i := 0; i < published.Methods().Len(); i++ {
		if m := published.Methods().Get(i); !seen[string(m.Name())] {
			problems = append(problems, fmt.Sprintf("%s/%s: published but not served", name, m.Name()))
		}
	}
	return procs, problems
}

// checkHealth checks grpc.health.v1 over Connect JSON with a plain HTTP request, as a
// load balancer or curl would.
func (s *suite) checkHealth(ctx context.Context) {
	s.check(ctx, protocols[0], []string{"/grpc.health.v1.Health/Check"}, `status "SERVING"`, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL+"/grpc.health.v1.Health/Check", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := s.cfg.HTTPClient.Do(req)
		if err != nil {
			return fmt.Errorf("an answer, got %w", err)
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "SERVING") {
			return fmt.Errorf("200 with SERVING, got %d %q", res.StatusCode, body)
		}
		return nil
	})
}

// checkCoverage fails for every served procedure that no check covered over all three
// protocols: a new RPC must come with its contract checks.
func (s *suite) checkCoverage(served []string) {
	for _, proc := range served {
		got := s.coveredProtocols(proc)
		var missing []string
		for _, p := range protocols {
			if !contains(got, p.name) {
				missing = append(missing, p.name)
			}
		}
		if len(missing) > 0 {
			s.fail(noProtocol, []string{proc}, "a contract check over connect, grpc and grpc-web",
				fmt.Errorf("this served RPC has no contract check over %s; add one to server/contract", strings.Join(missing, ", ")))
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
