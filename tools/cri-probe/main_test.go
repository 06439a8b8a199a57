package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestRunPodWithoutImageIsAUsageError(t *testing.T) {
	_, err := parsePodOptions([]string{"-annotation", "cdi.k8s.io/a=nvidia.com/gpu=1"}, &bytes.Buffer{})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-image") {
		t.Fatalf("want a usage error naming -image, got %v", err)
	}
}

func TestAnnotationWithoutEqualsSignIsRefusedByName(t *testing.T) {
	_, err := parsePodOptions([]string{"-image", "x", "-annotation", "cdi.k8s.io/a"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "-annotation") {
		t.Fatalf("want an error naming -annotation, got %v", err)
	}
}

func TestAnnotationValueMayContainEqualsSigns(t *testing.T) {
	opts, err := parsePodOptions([]string{"-image", "x", "-annotation", "cdi.k8s.io/a=nvidia.com/gpu=1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.annotations["cdi.k8s.io/a"]; got != "nvidia.com/gpu=1" {
		t.Fatalf("annotation value %q, want nvidia.com/gpu=1", got)
	}
}

func TestRepeatedFlagsAccumulate(t *testing.T) {
	opts, err := parsePodOptions([]string{"-image", "x", "-cdi-device", "a/b=1", "-cdi-device", "a/b=2",
		"-exec", "true", "-exec", "false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.cdiDevices) != 2 || len(opts.execs) != 2 {
		t.Fatalf("got %d CDI devices and %d execs, want 2 and 2", len(opts.cdiDevices), len(opts.execs))
	}
}

func TestCgroupParentNoneLeavesItToTheRuntime(t *testing.T) {
	got, err := podCgroupParent("none", "uid")
	if err != nil || got != "" {
		t.Fatalf("got %q, %v; want empty", got, err)
	}
}

func TestCgroupParentPathIsUsedAsGiven(t *testing.T) {
	got, err := podCgroupParent("/custom/parent", "uid")
	if err != nil || got != "/custom/parent" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCgroupParentAutoNestsThePodUnderKubepods(t *testing.T) {
	got, err := podCgroupParent("auto", "1234")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got, "/kubepods/besteffort/pod1234") {
		t.Fatalf("got %q, want a .../kubepods/besteffort/pod1234 path", got)
	}
}

func TestDockerCgroupPrefixIsFound(t *testing.T) {
	id := strings.Repeat("ab", 32)
	m := dockerCgroup.FindStringSubmatch("/docker/" + id + "/system.slice/containerd.service")
	if m == nil || m[1] != "/docker/"+id {
		t.Fatalf("got %v", m)
	}
}

func TestPodUIDsAreVersion4UUIDs(t *testing.T) {
	pattern := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if a, b := newUID(), newUID(); !pattern.MatchString(a) || a == b {
		t.Fatalf("got %q and %q", a, b)
	}
}

func TestUnknownSubcommandExitsWithStatus2(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "frobnicate") {
		t.Fatalf("stderr %q does not name the subcommand", stderr.String())
	}
}

func TestMissingSocketIsReportedWithItsPath(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"-endpoint", "unix:///nonexistent/cri.sock", "version"}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "/nonexistent/cri.sock") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
