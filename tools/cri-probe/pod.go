package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type podOptions struct {
	name         string
	namespace    string
	image        string
	annotations  map[string]string
	cdiDevices   []string
	execs        []string
	command      []string
	cgroupParent string
	keep         bool
}

// execResult is one command run in the container with ExecSync.
type execResult struct {
	Command  []string `json:"command"`
	ExitCode int32    `json:"exit_code"`
	Stdout   string   `json:"stdout"`
	Stderr   string   `json:"stderr"`
}

// specDevice is a device node the runtime wrote into the container's OCI spec.
type specDevice struct {
	Path  string `json:"path"`
	Type  string `json:"type"`
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
}

// podReport is what run-pod prints.
type podReport struct {
	PodName      string            `json:"pod_name"`
	PodUID       string            `json:"pod_uid"`
	PodSandboxID string            `json:"pod_sandbox_id"`
	ContainerID  string            `json:"container_id"`
	CgroupParent string            `json:"cgroup_parent"`
	Annotations  map[string]string `json:"annotations"`
	CDIDevices   []string          `json:"cdi_devices"`
	SpecDevices  []specDevice      `json:"spec_devices"`
	SpecEnv      []string          `json:"spec_env"`
	SpecMounts   []string          `json:"spec_mounts"`
	Execs        []execResult      `json:"execs"`
	RemovedAfter bool              `json:"removed_after"`
}

func parsePodOptions(args []string, stderr io.Writer) (podOptions, error) {
	fs := flag.NewFlagSet("run-pod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var annotations, cdiDevices, execs multiFlag
	opts := podOptions{annotations: map[string]string{}}
	fs.StringVar(&opts.name, "name", "cri-probe", "pod name (a random suffix is added)")
	fs.StringVar(&opts.namespace, "namespace", "default", "pod namespace")
	fs.StringVar(&opts.image, "image", "", "container image, already present in the runtime's image store")
	fs.Var(&annotations, "annotation", "container annotation KEY=VALUE, e.g. cdi.k8s.io/gpu=nvidia.com/gpu=1 (repeatable)")
	fs.Var(&cdiDevices, "cdi-device", "fully qualified CDI device name for ContainerConfig.CDI_devices (repeatable)")
	fs.Var(&execs, "exec", "shell command to run in the container with ExecSync (repeatable)")
	command := fs.String("command", "sleep 3600", "container's main process, run by sh -c")
	fs.StringVar(&opts.cgroupParent, "cgroup-parent", "auto", "pod cgroup parent: auto, none or a cgroupfs path")
	fs.BoolVar(&opts.keep, "keep", false, "leave the pod running instead of removing it")
	if err := fs.Parse(args); err != nil {
		return opts, usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return opts, usageError{fmt.Sprintf("run-pod takes no positional arguments, got %q", fs.Args())}
	}
	if opts.image == "" {
		return opts, usageError{"run-pod needs -image"}
	}
	for _, a := range annotations {
		key, value, ok := strings.Cut(a, "=")
		if !ok || key == "" {
			return opts, usageError{fmt.Sprintf("-annotation %q is not KEY=VALUE", a)}
		}
		opts.annotations[key] = value
	}
	opts.cdiDevices = cdiDevices
	opts.execs = execs
	opts.command = []string{"sh", "-c", *command}
	return opts, nil
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var dockerCgroup = regexp.MustCompile(`^(.*/docker/[0-9a-f]{64})(/|$)`)

// podCgroupParent picks the cgroupfs parent for the pod. In a node container that shares the
// host's cgroup namespace, the node's own cgroups live under /docker/<id>; nesting the pod there
// (as kubelet nests pods under its node) keeps the pod's cgroups inside the node's and lets them
// go away with the node. Elsewhere the pod goes under /kubepods as kubelet's cgroupfs driver does.
func podCgroupParent(choice, uid string) (string, error) {
	switch choice {
	case "none":
		return "", nil
	case "auto":
	default:
		return choice, nil
	}
	prefix := ""
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("reading own cgroup for -cgroup-parent auto: %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(scanner.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if m := dockerCgroup.FindStringSubmatch(parts[2]); m != nil {
			prefix = m[1]
			break
		}
	}
	return prefix + "/kubepods/besteffort/pod" + uid, nil
}

func namespaceOptions() *runtimeapi.NamespaceOption {
	// Host network: these nodes have no CNI plugin, and kubelet would not call one for
	// hostNetwork pods either.
	return &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
}

func runPod(ctx context.Context, rt runtimeapi.RuntimeServiceClient, img runtimeapi.ImageServiceClient, opts podOptions) (*podReport, error) {
	status, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: opts.image}})
	if err != nil {
		return nil, fmt.Errorf("ImageStatus %s: %w", opts.image, err)
	}
	if status.GetImage() == nil {
		return nil, fmt.Errorf("image %s is not in the runtime's image store (this client does not pull)", opts.image)
	}

	uid := newUID()
	name := fmt.Sprintf("%s-%s", opts.name, uid[:8])
	cgroupParent, err := podCgroupParent(opts.cgroupParent, uid)
	if err != nil {
		return nil, err
	}
	report := &podReport{
		PodName: name, PodUID: uid, CgroupParent: cgroupParent,
		Annotations: opts.annotations, CDIDevices: append([]string{}, opts.cdiDevices...),
		SpecDevices: []specDevice{}, SpecEnv: []string{}, SpecMounts: []string{}, Execs: []execResult{},
	}

	podConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: opts.namespace},
		LogDirectory: fmt.Sprintf("/var/log/pods/%s_%s_%s", opts.namespace, name, uid),
		Labels: map[string]string{
			"io.kubernetes.pod.name":      name,
			"io.kubernetes.pod.namespace": opts.namespace,
			"io.kubernetes.pod.uid":       uid,
		},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions()},
		},
	}
	sandbox, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podConfig})
	if err != nil {
		return report, fmt.Errorf("RunPodSandbox: %w", err)
	}
	report.PodSandboxID = sandbox.PodSandboxId
	if !opts.keep {
		defer func() {
			// Clean up with a fresh context so a timed-out run still removes its pod.
			cleanCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, errStop := rt.StopPodSandbox(cleanCtx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: report.PodSandboxID})
			_, errRemove := rt.RemovePodSandbox(cleanCtx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: report.PodSandboxID})
			report.RemovedAfter = errStop == nil && errRemove == nil
		}()
	}

	cdi := make([]*runtimeapi.CDIDevice, 0, len(opts.cdiDevices))
	for _, d := range opts.cdiDevices {
		cdi = append(cdi, &runtimeapi.CDIDevice{Name: d})
	}
	containerConfig := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: "probe"},
		Image:       &runtimeapi.ImageSpec{Image: opts.image},
		Command:     opts.command,
		Annotations: opts.annotations,
		CDIDevices:  cdi,
		LogPath:     "probe/0.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions()},
		},
	}
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: report.PodSandboxID, Config: containerConfig, SandboxConfig: podConfig,
	})
	if err != nil {
		return report, fmt.Errorf("CreateContainer: %w", err)
	}
	report.ContainerID = created.ContainerId
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: report.ContainerID}); err != nil {
		return report, fmt.Errorf("StartContainer: %w", err)
	}

	if err := fillFromSpec(ctx, rt, report); err != nil {
		return report, err
	}
	for _, e := range opts.execs {
		cmd := []string{"sh", "-c", e}
		res, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: report.ContainerID, Cmd: cmd, Timeout: 30})
		if err != nil {
			return report, fmt.Errorf("ExecSync %q: %w", e, err)
		}
		report.Execs = append(report.Execs, execResult{
			Command: cmd, ExitCode: res.ExitCode, Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		})
	}
	return report, nil
}

// fillFromSpec reads the OCI spec containerd generated for the container (ContainerStatus with
// verbose=true carries it as JSON under info["info"].runtimeSpec): the devices, environment and
// mounts there are what CDI injection produced.
func fillFromSpec(ctx context.Context, rt runtimeapi.RuntimeServiceClient, report *podReport) error {
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: report.ContainerID, Verbose: true})
	if err != nil {
		return fmt.Errorf("ContainerStatus: %w", err)
	}
	raw, ok := st.Info["info"]
	if !ok {
		return fmt.Errorf("ContainerStatus verbose answer has no \"info\" entry; the runtime does not expose its OCI spec")
	}
	var info struct {
		RuntimeSpec struct {
			Process struct {
				Env []string `json:"env"`
			} `json:"process"`
			Mounts []struct {
				Destination string `json:"destination"`
			} `json:"mounts"`
			Linux struct {
				Devices []specDevice `json:"devices"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return fmt.Errorf("decoding ContainerStatus info: %w", err)
	}
	report.SpecDevices = append(report.SpecDevices, info.RuntimeSpec.Linux.Devices...)
	report.SpecEnv = append(report.SpecEnv, info.RuntimeSpec.Process.Env...)
	for _, m := range info.RuntimeSpec.Mounts {
		report.SpecMounts = append(report.SpecMounts, m.Destination)
	}
	return nil
}
