// Command testkubelet is the kubelet's side of the device-plugin API (k8s.io/kubelet
// deviceplugin/v1beta1), enough to drive a real device plugin without a cluster:
//
//	testkubelet --dir DIR [--timeout 120s]
//
// It serves the Registration service on DIR/kubelet.sock. For every plugin that registers, it
// dials the plugin's endpoint in DIR, asks GetDevicePluginOptions and follows ListAndWatch.
// Commands come on stdin, one a line:
//
//	allocate RESOURCE ID[,ID...]                      Allocate, one container
//	preferred RESOURCE SIZE AVAILABLE[,...] [MUST,...] GetPreferredAllocation, one container
//	quit                                              (or end of input) stop
//
// Everything it sees goes to stdout as one JSON object a line, each with an "event":
// listening, registered, options, devices (every ListAndWatch update), watch-ended, allocate,
// preferred, error. It exits 0 on quit or end of input, 2 when --timeout passes first, so a
// hung plugin fails the caller instead of hanging it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// rpcTimeout bounds every call to a plugin; the kubelet's own is of the same order.
const rpcTimeout = 10 * time.Second

var stdout sync.Mutex

// emit writes one event as one JSON line; lines from concurrent streams never interleave.
func emit(event string, fields map[string]any) {
	fields["event"] = event
	line, err := json.Marshal(fields)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"event": "error", "error": err.Error()})
	}
	stdout.Lock()
	defer stdout.Unlock()
	_, _ = os.Stdout.Write(append(line, '\n'))
}

// kubelet holds the connections of the plugins registered so far, by resource name.
type kubelet struct {
	pluginapi.UnimplementedRegistrationServer
	dir     string
	mu      sync.Mutex
	plugins map[string]*grpc.ClientConn
}

// Register answers at once, as the kubelet does; dialling the plugin back happens afterwards,
// because the plugin starts serving only once Register has returned.
func (k *kubelet) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	emit("registered", map[string]any{
		"resource": req.GetResourceName(),
		"endpoint": req.GetEndpoint(),
		"version":  req.GetVersion(),
		"options":  options(req.GetOptions()),
	})
	if req.GetVersion() != pluginapi.Version {
		return nil, fmt.Errorf("unsupported device-plugin API version %q (this kubelet speaks %s)",
			req.GetVersion(), pluginapi.Version)
	}
	if req.GetEndpoint() == "" || filepath.Base(req.GetEndpoint()) != req.GetEndpoint() {
		return nil, fmt.Errorf("endpoint must be a socket name in %s, got %q", k.dir, req.GetEndpoint())
	}
	go k.follow(req.GetResourceName(), filepath.Join(k.dir, req.GetEndpoint()))
	return &pluginapi.Empty{}, nil
}

func options(o *pluginapi.DevicePluginOptions) map[string]bool {
	return map[string]bool{
		"pre_start_required":                 o.GetPreStartRequired(),
		"get_preferred_allocation_available": o.GetGetPreferredAllocationAvailable(),
	}
}

// follow dials a registered plugin, reads its options and prints its ListAndWatch updates
// until the stream ends.
func (k *kubelet) follow(resource, socket string) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		emit("error", map[string]any{"resource": resource, "error": "dial " + socket + ": " + err.Error()})
		return
	}
	k.mu.Lock()
	if old := k.plugins[resource]; old != nil {
		_ = old.Close() // a plugin that registers again has restarted
	}
	k.plugins[resource] = conn
	k.mu.Unlock()

	client := pluginapi.NewDevicePluginClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	opts, err := client.GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	cancel()
	if err != nil {
		emit("error", map[string]any{"resource": resource, "error": "GetDevicePluginOptions: " + err.Error()})
		return
	}
	emit("options", map[string]any{"resource": resource, "options": options(opts)})

	stream, err := client.ListAndWatch(context.Background(), &pluginapi.Empty{})
	if err != nil {
		emit("error", map[string]any{"resource": resource, "error": "ListAndWatch: " + err.Error()})
		return
	}
	for {
		update, err := stream.Recv()
		if err != nil {
			emit("watch-ended", map[string]any{"resource": resource, "error": err.Error()})
			return
		}
		emit("devices", map[string]any{"resource": resource, "devices": devices(update.GetDevices())})
	}
}

func devices(list []*pluginapi.Device) []map[string]any {
	out := []map[string]any{}
	for _, d := range list {
		// null: the plugin gave no topology; otherwise the NUMA node ids.
		var numa []int64
		if t := d.GetTopology(); t != nil {
			numa = []int64{}
			for _, n := range t.GetNodes() {
				numa = append(numa, n.GetID())
			}
		}
		out = append(out, map[string]any{"id": d.GetID(), "health": d.GetHealth(), "topology": numa})
	}
	return out
}

func (k *kubelet) client(resource string) (pluginapi.DevicePluginClient, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	conn := k.plugins[resource]
	if conn == nil {
		return nil, fmt.Errorf("no plugin registered for %q", resource)
	}
	return pluginapi.NewDevicePluginClient(conn), nil
}

func ids(arg string) []string {
	if arg == "" {
		return []string{}
	}
	return strings.Split(arg, ",")
}

func (k *kubelet) allocate(args []string) (map[string]any, error) {
	if len(args) != 2 {
		return nil, errors.New("usage: allocate RESOURCE ID[,ID...]")
	}
	client, err := k.client(args[0])
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := client.Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: ids(args[1])}},
	})
	if err != nil {
		return nil, err
	}
	if n := len(resp.GetContainerResponses()); n != 1 {
		return nil, fmt.Errorf("Allocate answered %d container responses for 1 container", n)
	}
	r := resp.GetContainerResponses()[0]
	mounts := []map[string]any{}
	for _, m := range r.GetMounts() {
		mounts = append(mounts, map[string]any{
			"container_path": m.GetContainerPath(), "host_path": m.GetHostPath(), "read_only": m.GetReadOnly()})
	}
	specs := []map[string]any{}
	for _, d := range r.GetDevices() {
		specs = append(specs, map[string]any{
			"container_path": d.GetContainerPath(), "host_path": d.GetHostPath(), "permissions": d.GetPermissions()})
	}
	cdi := []string{}
	for _, d := range r.GetCdiDevices() {
		cdi = append(cdi, d.GetName())
	}
	return map[string]any{
		"resource": args[0],
		"request":  ids(args[1]),
		"response": map[string]any{
			"envs":        nonNil(r.GetEnvs()),
			"annotations": nonNil(r.GetAnnotations()),
			"mounts":      mounts,
			"devices":     specs,
			"cdi_devices": cdi,
		},
	}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (k *kubelet) preferred(args []string) (map[string]any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, errors.New("usage: preferred RESOURCE SIZE AVAILABLE[,...] [MUST,...]")
	}
	size, err := strconv.ParseInt(args[1], 10, 32)
	if err != nil || size < 1 {
		return nil, fmt.Errorf("SIZE must be a positive number, got %q", args[1])
	}
	must := []string{}
	if len(args) == 4 {
		must = ids(args[3])
	}
	client, err := k.client(args[0])
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := client.GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{
		ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
			AvailableDeviceIDs: ids(args[2]), MustIncludeDeviceIDs: must, AllocationSize: int32(size)}},
	})
	if err != nil {
		return nil, err
	}
	if n := len(resp.GetContainerResponses()); n != 1 {
		return nil, fmt.Errorf("GetPreferredAllocation answered %d container responses for 1 container", n)
	}
	chosen := resp.GetContainerResponses()[0].GetDeviceIDs()
	if chosen == nil {
		chosen = []string{}
	}
	return map[string]any{"resource": args[0], "device_ids": chosen}, nil
}

// commands runs stdin's commands until quit or end of input.
func (k *kubelet) commands() {
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		words := strings.Fields(lines.Text())
		if len(words) == 0 {
			continue
		}
		var result map[string]any
		var err error
		switch words[0] {
		case "quit":
			return
		case "allocate":
			result, err = k.allocate(words[1:])
		case "preferred":
			result, err = k.preferred(words[1:])
		default:
			err = fmt.Errorf("unknown command %q (allocate, preferred, quit)", words[0])
		}
		if err != nil {
			emit("error", map[string]any{"command": lines.Text(), "error": err.Error()})
			continue
		}
		emit(words[0], result)
	}
}

func main() {
	dir := flag.String("dir", "", "the device-plugin directory: kubelet.sock is served here, plugin endpoints are found here")
	timeout := flag.Duration("timeout", 120*time.Second, "exit with status 2 after this long")
	flag.Parse()
	if *dir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: testkubelet --dir DIR [--timeout DURATION]")
		os.Exit(64)
	}

	socket := filepath.Join(*dir, "kubelet.sock")
	// A socket left by an earlier run would make Listen fail; nothing else is ever removed.
	if info, err := os.Lstat(socket); err == nil && info.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(socket)
	}
	listener, err := net.Listen("unix", socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkubelet: --dir: %v\n", err)
		os.Exit(1)
	}
	server := grpc.NewServer()
	k := &kubelet{dir: *dir, plugins: map[string]*grpc.ClientConn{}}
	pluginapi.RegisterRegistrationServer(server, k)
	go func() { _ = server.Serve(listener) }()
	emit("listening", map[string]any{"socket": socket})

	done := make(chan struct{})
	go func() {
		k.commands()
		close(done)
	}()
	status := 0
	select {
	case <-done:
	case <-time.After(*timeout):
		emit("error", map[string]any{"error": fmt.Sprintf("timeout: still running after %s", *timeout)})
		status = 2
	}
	server.Stop()
	_ = os.Remove(socket)
	os.Exit(status)
}
