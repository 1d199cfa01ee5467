//go:build linux

package agent

import (
	"fmt"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/memalloc"
)

type memAlloc struct{ t *memalloc.Tracer }

func (m memAlloc) Stacks(now time.Time, top int) []api.AllocStack { return m.t.Stacks(now, top) }
func (m memAlloc) Stats() (uint64, uint64, uint64)                { return m.t.Stats() }
func (m memAlloc) Close() error                                   { return m.t.Close() }

// startAlloc attaches the allocator uprobes to the processes found at the
// start of the window (processes that start later are sampled from /proc
// but not probed).
func startAlloc(cfg api.MemoryConfig, pids []uint32, out *Emitter) (allocTracer, error) {
	if len(pids) == 0 {
		return nil, &UserError{Msg: "--alloc found no running target to attach to", Remedy: "start the process first, or drop --alloc"}
	}
	t, err := memalloc.Start(memalloc.Config{PIDs: pids, SampleBytes: cfg.AllocSampleBytes, ProcRoot: cfg.ProcRootDir})
	if err != nil {
		return nil, &UserError{Msg: fmt.Sprintf("--alloc: %v", err), Remedy: "run as root on Linux >= 5.8; the target must use libc malloc or be a Go program"}
	}
	for _, a := range t.Attached {
		out.Log(api.LevelInfo, "allocator probes attached: "+a, "")
	}
	return memAlloc{t}, nil
}
