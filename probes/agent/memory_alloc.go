//go:build linux

package agent

import (
	"fmt"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/memalloc"
	"github.com/kubectl-pixie/kubectl-pixie/probes/memgrowth"
)

type memAlloc struct{ t *memalloc.Tracer }

func (m memAlloc) Stacks(now time.Time, top int) []api.AllocStack { return m.t.Stacks(now, top) }
func (m memAlloc) Stats() (uint64, uint64, uint64)                { return m.t.Stats() }
func (m memAlloc) LostName() string                               { return "alloc_map_full" }
func (m memAlloc) Note() string                                   { return "" }
func (m memAlloc) Close() error                                   { return m.t.Close() }
func (m memAlloc) Add(pid uint32) error                           { return m.t.Add(pid) }

type memGrowth struct{ t *memgrowth.Tracer }

func (m memGrowth) Stacks(now time.Time, top int) []api.AllocStack { return m.t.Stacks(now, top) }
func (m memGrowth) Stats() (uint64, uint64, uint64)                { return m.t.Stats() }
func (m memGrowth) LostName() string                               { return "fault_ringbuf_full" }
func (m memGrowth) Close() error                                   { return m.t.Close() }
func (m memGrowth) Add(pid uint32) error                           { return m.t.Add(pid) }

func (m memGrowth) Note() string {
	c := m.t.Counters()
	s := fmt.Sprintf("--alloc: %d page faults of the targets, %d unwound", c.Faults, c.Sampled)
	if p := m.t.Period(); p > 1 {
		s += fmt.Sprintf("; sampling went to 1 in %d faults to stay within budget (bytes are scaled up)", p)
	}
	return s
}

// startAlloc starts the --alloc engine on the processes found at the start
// of the window; the memory loop Adds those that start later. The default
// engine samples page faults: its cost follows the
// target's memory growth, not its malloc rate. Uprobes on the allocator
// are exact but trap on every call, so they are opt-in.
func startAlloc(cfg api.MemoryConfig, pids []uint32, out *Emitter) (allocTracer, error) {
	switch cfg.AllocMode {
	case "", api.AllocModeFaults:
		t, err := memgrowth.Start(memgrowth.Config{PIDs: pids, ProcRoot: cfg.ProcRootDir})
		if err != nil {
			return nil, &UserError{Msg: fmt.Sprintf("--alloc: %v", err),
				Remedy: "run as root on Linux >= 5.15 with BTF (the page-faults perf event and syscall tracepoints), or use --alloc-mode uprobes"}
		}
		out.Log(api.LevelInfo, fmt.Sprintf("page-fault growth probe on %d process(es); more as they start", len(pids)), "")
		return memGrowth{t}, nil
	case api.AllocModeUprobes:
		t, err := memalloc.Start(memalloc.Config{PIDs: pids, SampleBytes: cfg.AllocSampleBytes, ProcRoot: cfg.ProcRootDir})
		if err != nil {
			return nil, &UserError{Msg: fmt.Sprintf("--alloc: %v", err), Remedy: "run as root on Linux >= 5.8; the target must use libc malloc or be a Go program"}
		}
		for _, a := range t.Attached {
			out.Log(api.LevelInfo, "allocator probes attached: "+a, "")
		}
		return memAlloc{t}, nil
	default:
		return nil, &UserError{Msg: fmt.Sprintf("unknown --alloc-mode %q", cfg.AllocMode), Remedy: "use faults or uprobes"}
	}
}
