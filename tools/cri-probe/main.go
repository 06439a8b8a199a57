// Command cri-probe is a small client of the Kubernetes CRI v1 API (k8s.io/cri-api). It stands in
// for kubelet where no kubelet runs: it starts a pod sandbox and one container through a
// runtime's CRI socket, the way kubelet does after a device plugin's Allocate answered with CDI
// annotations or CDI devices, runs commands inside the container, reports what the runtime put
// into the container's OCI spec, and removes everything it created.
//
// Usage:
//
//	cri-probe [-endpoint unix:///run/containerd/containerd.sock] version
//	cri-probe [-endpoint ...] run-pod -image IMAGE [-annotation KEY=VALUE]... [-cdi-device NAME]...
//	          [-exec 'SHELL COMMAND']... [-name NAME] [-cgroup-parent auto|none|PATH] [-keep]
//
// Both subcommands print one JSON document on stdout. The exit status is 0 when every CRI call
// succeeded (the exit codes of -exec commands are reported, not turned into failures), 1 when a
// CRI call failed and 2 for bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

// usageError marks mistakes in the command line, which exit with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// multiFlag collects a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("cri-probe", flag.ContinueOnError)
	global.SetOutput(stderr)
	endpoint := global.String("endpoint", defaultEndpoint, "CRI endpoint of the runtime (unix socket URL)")
	timeout := global.Duration("timeout", 60*time.Second, "time limit for the whole run")
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "cri-probe: name a subcommand: version or run-pod")
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var result any
	var err error
	switch rest[0] {
	case "version":
		result, err = withClient(ctx, *endpoint, func(rt runtimeapi.RuntimeServiceClient, _ runtimeapi.ImageServiceClient) (any, error) {
			return rt.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
		})
	case "run-pod":
		var opts podOptions
		opts, err = parsePodOptions(rest[1:], stderr)
		if err == nil {
			result, err = withClient(ctx, *endpoint, func(rt runtimeapi.RuntimeServiceClient, img runtimeapi.ImageServiceClient) (any, error) {
				return runPod(ctx, rt, img, opts)
			})
		}
	default:
		err = usageError{fmt.Sprintf("unknown subcommand %q: use version or run-pod", rest[0])}
	}

	if result != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(result)
	}
	if err != nil {
		fmt.Fprintln(stderr, "cri-probe:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func withClient(ctx context.Context, endpoint string, body func(runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) (any, error)) (any, error) {
	if !strings.HasPrefix(endpoint, "unix://") {
		return nil, usageError{fmt.Sprintf("-endpoint %q is not a unix:// socket URL", endpoint)}
	}
	socket := strings.TrimPrefix(endpoint, "unix://")
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("CRI socket %s is not there: %w", socket, err)
	}
	// grpc's "unix:" target resolver takes the absolute path after the scheme.
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	defer conn.Close()
	return body(runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn))
}
