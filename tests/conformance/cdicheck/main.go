// Command cdicheck loads CDI spec directories with the CDI project's own Go library
// (tags.cncf.io/container-device-interface), the code containerd, Docker, podman and CRI-O
// use, and reports what a runtime would see.
//
//	cdicheck validate DIR...        every spec file, its errors, and the devices it defines
//	cdicheck inject DIR DEVICE...   the OCI edits a runtime would apply for DEVICE...
//
// The project's `cdi` command (module tags.cncf.io/container-device-interface/cmd/cdi) is not
// published on the Go module proxy, so this wraps the same library calls `cdi validate` makes.
// Output is JSON on stdout; the exit status is 1 when any spec has an error or injection fails.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	oci "github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

type specReport struct {
	Path            string   `json:"path"`
	Kind            string   `json:"kind"`
	Version         string   `json:"cdi_version"`
	MinimumRequired string   `json:"minimum_required_version"`
	Devices         []string `json:"devices"`
}

type validateReport struct {
	SpecDirs []string            `json:"spec_dirs"`
	Specs    []specReport        `json:"specs"`
	Errors   map[string][]string `json:"errors"`
	Devices  []string            `json:"devices"`
}

type injectReport struct {
	Devices    []oci.LinuxDevice `json:"devices"`
	Mounts     []oci.Mount       `json:"mounts"`
	Env        []string          `json:"env"`
	Hooks      *oci.Hooks        `json:"hooks"`
	Unresolved []string          `json:"unresolved"`
	Error      string            `json:"error"`
}

func newCache(dirs []string) *cdi.Cache {
	// Without auto-refresh the cache scans the directories once, as a runtime does at start.
	cache, _ := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	return cache
}

func validate(dirs []string) int {
	cache := newCache(dirs)
	out := validateReport{SpecDirs: dirs, Specs: []specReport{}, Errors: map[string][]string{}}
	for path, errs := range cache.GetErrors() {
		for _, err := range errs {
			out.Errors[path] = append(out.Errors[path], err.Error())
		}
	}
	for _, vendor := range cache.ListVendors() {
		for _, spec := range cache.GetVendorSpecs(vendor) {
			minimum, err := cdi.MinimumRequiredVersion(spec.Spec)
			if err != nil {
				out.Errors[spec.GetPath()] = append(out.Errors[spec.GetPath()], err.Error())
			}
			names := []string{}
			for _, dev := range spec.Devices {
				names = append(names, dev.Name)
			}
			out.Specs = append(out.Specs, specReport{
				Path: spec.GetPath(), Kind: spec.Kind, Version: spec.Version,
				MinimumRequired: minimum, Devices: names,
			})
		}
	}
	sort.Slice(out.Specs, func(i, j int) bool { return out.Specs[i].Path < out.Specs[j].Path })
	out.Devices = append([]string{}, cache.ListDevices()...)
	emit(out)
	if len(out.Errors) > 0 {
		return 1
	}
	return 0
}

func inject(dir string, devices []string) int {
	cache := newCache([]string{dir})
	spec := &oci.Spec{Process: &oci.Process{}, Linux: &oci.Linux{}}
	unresolved, err := cache.InjectDevices(spec, devices...)
	out := injectReport{
		Devices: spec.Linux.Devices, Mounts: spec.Mounts, Env: spec.Process.Env,
		Hooks: spec.Hooks, Unresolved: unresolved,
	}
	if err != nil {
		out.Error = err.Error()
	}
	emit(out)
	if err != nil {
		return 1
	}
	return 0
}

func emit(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "cdicheck: writing JSON: %v\n", err)
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cdicheck validate DIR... | cdicheck inject DIR DEVICE...")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "validate":
		os.Exit(validate(os.Args[2:]))
	case "inject":
		if len(os.Args) < 4 {
			usage()
		}
		os.Exit(inject(os.Args[2], os.Args[3:]))
	default:
		usage()
	}
}
