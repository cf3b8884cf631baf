package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
)

// defaultMemoryLimit is check's soft heap limit in MiB. A check of ten
// million ops holds at most about 1.7 GiB live (the largest workload's
// ops, while its checkers run); the collector would let the heap grow to
// twice that, and under this limit it peaks near 2.2 GiB for a few
// percent more CPU (README, "Soak scale").
const defaultMemoryLimit = 2200

// setMemoryLimit gives the Go heap a soft limit of mib MiB, unless
// GOMEMLIMIT chose one. By default the collector lets the heap grow to
// twice what is live.
func setMemoryLimit(mib int) {
	if mib <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(mib) << 20)
}

// startProfiles starts a CPU profile into cpuPath and returns what ends it
// and writes a heap profile into memPath (either path may be empty). The
// files are opened first, so a bad path is refused before the work.
func startProfiles(cpuPath, memPath string) (stop func(), err error) {
	var cpu, mem *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if memPath != "" {
		if mem, err = os.Create(memPath); err != nil {
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			return nil, fmt.Errorf("--memprofile: %w", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if mem != nil {
			runtime.GC() // the profile shows what is live, not garbage
			_ = pprof.WriteHeapProfile(mem)
			mem.Close()
		}
	}, nil
}
