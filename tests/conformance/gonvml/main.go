// Command gonvml-probe reads a node's GPUs through NVIDIA's own Go bindings (go-nvml), the way
// the device plugin, GPU feature discovery and nvidia-ctk do, and prints what it saw as JSON.
//
// Every query is recorded either as a value or, when NVML refuses it, as an error entry with
// the NVML return code, so a test can tell "the mock said NOT_SUPPORTED" from "the mock gave a
// wrong number". The process exits 1 only when NVML cannot be loaded or initialised at all.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlError is how a refused query appears in the output.
type nvmlError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// record collects the answers of one object (the system or one device).
type record struct {
	Values map[string]any       `json:"values"`
	Errors map[string]nvmlError `json:"errors"`
}

func newRecord() record {
	return record{Values: map[string]any{}, Errors: map[string]nvmlError{}}
}

func (r record) put(name string, value any, ret nvml.Return) {
	if ret == nvml.SUCCESS {
		r.Values[name] = value
		return
	}
	r.Errors[name] = nvmlError{Code: int(ret), Message: ret.Error()}
}

type report struct {
	Library string   `json:"library"`
	System  record   `json:"system"`
	Count   int      `json:"count"`
	Devices []record `json:"devices"`
	Health  record   `json:"health"`
}

// healthCheckEvents is the mask the device plugin's health loop registers for.
const healthCheckEvents = nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError | nvml.EventTypeSingleBitEccError

// probeHealthLoop walks one round of the device plugin's health check: an event set, each GPU
// registered for the critical events it supports, then one bounded wait. With nothing
// pending, NVML must answer the wait with ERROR_TIMEOUT; any other error marks every GPU
// unhealthy in the plugin.
func probeHealthLoop(lib nvml.Interface, count int, waitMs uint32) record {
	rec := newRecord()
	set, ret := lib.EventSetCreate()
	rec.put("event_set_create", true, ret)
	if ret != nvml.SUCCESS {
		return rec
	}
	defer set.Free()
	registered := 0
	for i := 0; i < count; i++ {
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		supported, ret := dev.GetSupportedEventTypes()
		rec.put(fmt.Sprintf("supported_event_types_%d", i), supported, ret)
		if ret != nvml.SUCCESS {
			continue
		}
		ret = dev.RegisterEvents(healthCheckEvents&supported, set)
		rec.put(fmt.Sprintf("register_events_%d", i), true, ret)
		if ret == nvml.SUCCESS {
			registered++
		}
	}
	rec.Values["registered"] = registered
	_, ret = set.Wait(waitMs)
	rec.Values["wait_return"] = int(ret)
	return rec
}

// cString turns one of NVML's fixed char arrays into a Go string (up to the first NUL).
func cString(raw []int8) string {
	buf := make([]byte, 0, len(raw))
	for _, c := range raw {
		if c == 0 {
			break
		}
		buf = append(buf, byte(c))
	}
	return string(buf)
}

// migProfiles lists the GPU-instance profiles the device answers for, by NVML profile index:
// "v1" through nvmlDeviceGetGpuInstanceProfileInfo (what go-nvlib's MIG profile walk calls),
// "v3" through nvmlDeviceGetGpuInstanceProfileInfoV with the v3 struct (names included).
func migProfiles(dev nvml.Device) map[string][]map[string]any {
	out := map[string][]map[string]any{"v1": {}, "v3": {}}
	for i := 0; i < nvml.GPU_INSTANCE_PROFILE_COUNT; i++ {
		if info, ret := dev.GetGpuInstanceProfileInfo(i); ret == nvml.SUCCESS {
			out["v1"] = append(out["v1"], map[string]any{
				"index": i, "profile_id": info.Id,
				"slice_count": info.SliceCount, "instance_count": info.InstanceCount,
				"multiprocessor_count": info.MultiprocessorCount, "memory_size_mb": info.MemorySizeMB,
				"copy_engine_count": info.CopyEngineCount, "decoder_count": info.DecoderCount,
				"encoder_count": info.EncoderCount, "jpeg_count": info.JpegCount, "ofa_count": info.OfaCount,
			})
		}
		if info, ret := dev.GetGpuInstanceProfileInfoV(i).V3(); ret == nvml.SUCCESS {
			out["v3"] = append(out["v3"], map[string]any{
				"index": i, "profile_id": info.Id, "name": cString(info.Name[:]),
				"slice_count": info.SliceCount, "instance_count": info.InstanceCount,
				"multiprocessor_count": info.MultiprocessorCount, "memory_size_mb": info.MemorySizeMB,
				"copy_engine_count": info.CopyEngineCount, "decoder_count": info.DecoderCount,
				"encoder_count": info.EncoderCount, "jpeg_count": info.JpegCount, "ofa_count": info.OfaCount,
			})
		}
	}
	return out
}

func probeDevice(lib nvml.Interface, index int) record {
	rec := newRecord()
	dev, ret := lib.DeviceGetHandleByIndex(index)
	rec.put("handle", index, ret)
	if ret != nvml.SUCCESS {
		return rec
	}

	name, ret := dev.GetName()
	rec.put("name", name, ret)
	uuid, ret := dev.GetUUID()
	rec.put("uuid", uuid, ret)
	serial, ret := dev.GetSerial()
	rec.put("serial", serial, ret)
	idx, ret := dev.GetIndex()
	rec.put("index", idx, ret)
	minor, ret := dev.GetMinorNumber()
	rec.put("minor", minor, ret)
	brand, ret := dev.GetBrand()
	rec.put("brand", int(brand), ret)
	arch, ret := dev.GetArchitecture()
	rec.put("architecture", int(arch), ret)

	pci, ret := dev.GetPciInfo()
	rec.put("pci", map[string]any{
		"bus_id":           cString(pci.BusId[:]),
		"bus_id_legacy":    cString(pci.BusIdLegacy[:]),
		"domain":           pci.Domain,
		"bus":              pci.Bus,
		"device":           pci.Device,
		"pci_device_id":    pci.PciDeviceId,
		"pci_subsystem_id": pci.PciSubSystemId,
	}, ret)

	mem, ret := dev.GetMemoryInfo()
	rec.put("memory", map[string]uint64{"total": mem.Total, "free": mem.Free, "used": mem.Used}, ret)

	ccMajor, ccMinor, ret := dev.GetCudaComputeCapability()
	rec.put("compute_capability", []int{ccMajor, ccMinor}, ret)

	current, pending, ret := dev.GetMigMode()
	rec.put("mig_mode", map[string]int{"current": current, "pending": pending}, ret)

	maxMig, ret := dev.GetMaxMigDeviceCount()
	rec.put("max_mig_device_count", maxMig, ret)
	rec.Values["mig_profiles"] = migProfiles(dev)

	clockTypes := []struct {
		name string
		kind nvml.ClockType
	}{
		{"graphics", nvml.CLOCK_GRAPHICS}, {"sm", nvml.CLOCK_SM},
		{"mem", nvml.CLOCK_MEM}, {"video", nvml.CLOCK_VIDEO},
	}
	for _, ct := range clockTypes {
		mhz, ret := dev.GetClockInfo(ct.kind)
		rec.put("clock_"+ct.name+"_mhz", mhz, ret)
		maxMhz, ret := dev.GetMaxClockInfo(ct.kind)
		rec.put("clock_"+ct.name+"_max_mhz", maxMhz, ret)
	}

	usage, ret := dev.GetPowerUsage()
	rec.put("power_usage_mw", usage, ret)
	limit, ret := dev.GetPowerManagementLimit()
	rec.put("power_limit_mw", limit, ret)
	defLimit, ret := dev.GetPowerManagementDefaultLimit()
	rec.put("power_default_limit_mw", defLimit, ret)
	enforced, ret := dev.GetEnforcedPowerLimit()
	rec.put("power_enforced_limit_mw", enforced, ret)
	minLimit, maxLimit, ret := dev.GetPowerManagementLimitConstraints()
	rec.put("power_limit_constraints_mw", []uint32{minLimit, maxLimit}, ret)

	// Consumers find devices again by UUID and by bus id (the device plugin's health loop,
	// nvidia-ctk for explicit ids): both lookups must lead back to this index.
	if uuid != "" {
		byUUID, ret := lib.DeviceGetHandleByUUID(uuid)
		if ret == nvml.SUCCESS {
			var i int
			i, ret = byUUID.GetIndex()
			rec.put("index_by_uuid", i, ret)
		} else {
			rec.put("index_by_uuid", nil, ret)
		}
	}
	if busID := cString(pci.BusId[:]); busID != "" {
		byBus, ret := lib.DeviceGetHandleByPciBusId(busID)
		if ret == nvml.SUCCESS {
			var i int
			i, ret = byBus.GetIndex()
			rec.put("index_by_pci_bus_id", i, ret)
		} else {
			rec.put("index_by_pci_bus_id", nil, ret)
		}
	}
	return rec
}

func main() {
	libraryPath := flag.String("library", "", "path of libnvidia-ml.so.1 (default: the dynamic loader's search, as NVIDIA's tools do)")
	waitMs := flag.Uint("event-wait-ms", 100, "timeout of the health-check event wait, in milliseconds")
	flag.Parse()

	var opts []nvml.LibraryOption
	if *libraryPath != "" {
		opts = append(opts, nvml.WithLibraryPath(*libraryPath))
	}
	lib := nvml.New(opts...)
	if ret := lib.Init(); ret != nvml.SUCCESS {
		fmt.Fprintf(os.Stderr, "gonvml-probe: nvmlInit failed: %d (%s)\n", int(ret), nvml.ErrorString(ret))
		os.Exit(1)
	}
	defer lib.Shutdown()

	out := report{Library: *libraryPath, System: newRecord()}
	driver, ret := lib.SystemGetDriverVersion()
	out.System.put("driver_version", driver, ret)
	nvmlVersion, ret := lib.SystemGetNVMLVersion()
	out.System.put("nvml_version", nvmlVersion, ret)
	cuda, ret := lib.SystemGetCudaDriverVersion()
	out.System.put("cuda_driver_version", cuda, ret)
	count, ret := lib.DeviceGetCount()
	out.System.put("device_count", count, ret)

	out.Count = count
	out.Devices = []record{}
	for i := 0; i < count; i++ {
		out.Devices = append(out.Devices, probeDevice(lib, i))
	}

	out.Health = probeHealthLoop(lib, count, uint32(*waitMs))

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "gonvml-probe: writing JSON: %v\n", err)
		os.Exit(1)
	}
}
