// Command gonvlib-probe lists a node's MIG devices through NVIDIA's go-nvlib (pkg/nvlib/device),
// the layer nvidia-ctk, the device plugin and GPU feature discovery build their MIG handling on,
// and prints what it found as JSON: per GPU whether it is in MIG mode and the MIG devices
// VisitMigDevices walks (index, UUID, profile, instance ids), and the MIG devices GetMigDevices
// returns with their parent's index.
//
// go-nvlib answers errors, not NVML codes: any error is printed on stderr and the process exits 1,
// so a test sees what go-nvlib would have refused.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/NVIDIA/go-nvlib/pkg/nvlib/device"
	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

type migDevice struct {
	Parent          int    `json:"parent"`
	Index           int    `json:"index"`
	UUID            string `json:"uuid"`
	Profile         string `json:"profile"`
	GpuInstance     int    `json:"gpu_instance"`
	ComputeInstance int    `json:"compute_instance"`
}

type gpu struct {
	Index      int         `json:"index"`
	UUID       string      `json:"uuid"`
	MigCapable bool        `json:"mig_capable"`
	MigEnabled bool        `json:"mig_enabled"`
	MigDevices []migDevice `json:"mig_devices"`
}

type report struct {
	Gpus []gpu `json:"gpus"`
	// GetMigDevices: every MIG device of the node, without the visit's indices.
	Listed []migDevice `json:"listed"`
}

func check(ret nvml.Return, what string) error {
	if ret != nvml.SUCCESS {
		return fmt.Errorf("%s: %v", what, ret)
	}
	return nil
}

// describe reads what go-nvlib and NVML say of one MIG device; parent and index are the caller's.
func describe(m device.MigDevice, parent, index int) (migDevice, error) {
	out := migDevice{Parent: parent, Index: index}
	profile, err := m.GetProfile()
	if err != nil {
		return out, fmt.Errorf("MIG device profile: %v", err)
	}
	out.Profile = profile.String()
	var ret nvml.Return
	if out.UUID, ret = m.GetUUID(); ret != nvml.SUCCESS {
		return out, check(ret, "MIG device UUID")
	}
	if out.GpuInstance, ret = m.GetGpuInstanceId(); ret != nvml.SUCCESS {
		return out, check(ret, "GPU instance id")
	}
	out.ComputeInstance, ret = m.GetComputeInstanceId()
	return out, check(ret, "compute instance id")
}

func probe(lib device.Interface) (report, error) {
	out := report{Gpus: []gpu{}, Listed: []migDevice{}}
	err := lib.VisitDevices(func(i int, d device.Device) error {
		g := gpu{Index: i, MigDevices: []migDevice{}}
		var ret nvml.Return
		if g.UUID, ret = d.GetUUID(); ret != nvml.SUCCESS {
			return check(ret, "GPU UUID")
		}
		var err error
		if g.MigCapable, err = d.IsMigCapable(); err != nil {
			return err
		}
		if g.MigEnabled, err = d.IsMigEnabled(); err != nil {
			return err
		}
		out.Gpus = append(out.Gpus, g)
		return nil
	})
	if err != nil {
		return out, err
	}
	err = lib.VisitMigDevices(func(i int, d device.Device, j int, m device.MigDevice) error {
		mig, err := describe(m, i, j)
		if err == nil {
			out.Gpus[i].MigDevices = append(out.Gpus[i].MigDevices, mig)
		}
		return err
	})
	if err != nil {
		return out, err
	}
	migs, err := lib.GetMigDevices()
	if err != nil {
		return out, err
	}
	for j, m := range migs {
		parent, ret := m.GetDeviceHandleFromMigDeviceHandle()
		if err := check(ret, "parent of a MIG device"); err != nil {
			return out, err
		}
		index, ret := parent.GetIndex()
		if err := check(ret, "parent index"); err != nil {
			return out, err
		}
		mig, err := describe(m, index, j)
		if err != nil {
			return out, err
		}
		out.Listed = append(out.Listed, mig)
	}
	return out, nil
}

func main() {
	libraryPath := flag.String("library", "", "path of libnvidia-ml.so.1 (default: the dynamic loader's search)")
	flag.Parse()

	var opts []nvml.LibraryOption
	if *libraryPath != "" {
		opts = append(opts, nvml.WithLibraryPath(*libraryPath))
	}
	nvmllib := nvml.New(opts...)
	if ret := nvmllib.Init(); ret != nvml.SUCCESS {
		fmt.Fprintf(os.Stderr, "gonvlib-probe: nvmlInit failed: %v\n", ret)
		os.Exit(1)
	}
	defer nvmllib.Shutdown()

	out, err := probe(device.New(nvmllib))
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonvlib-probe: %v\n", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "gonvlib-probe: writing JSON: %v\n", err)
		os.Exit(1)
	}
}
