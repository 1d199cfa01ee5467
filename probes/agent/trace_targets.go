//go:build linux

package agent

import (
	"os"
	"path/filepath"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// kernelFilter is what targets need of the socket tracer: the PID filter
// and TLS uprobes.
type kernelFilter interface {
	AddPID(tgid uint32) error
	AttachTLS(procRoot string, pid uint32) ([]socktrace.TLSTarget, error)
}

// targets finds the processes to trace, puts them in the kernel filter
// (with TLS uprobes on each) and remembers their container and pod.
type targets struct {
	cfg    *api.TraceConfig
	sel    procs.Selector
	finder procs.Finder
	tlsOn  bool
	log    func([]socktrace.TLSTarget, error)
	added  map[uint32]bool // in the kernel filter
}

// newTargets checks the configuration's selection: something must be
// named, and named PIDs must exist.
func newTargets(cfg *api.TraceConfig, log func([]socktrace.TLSTarget, error)) (*targets, error) {
	t := &targets{
		cfg: cfg,
		sel: procs.Selector{
			PIDs: cfg.PIDs, Comms: cfg.Comms, All: cfg.All,
			ContainerIDs: cfg.ContainerIDs, PodUIDs: cfg.PodUIDs,
			Exclude: []uint32{uint32(os.Getpid()), uint32(os.Getppid())},
		},
		finder: procs.Finder{Root: cfg.ProcRootDir},
		// PIXIE_TRACE_TLS=off: no uprobes on TLS libraries (HTTPS stays opaque).
		tlsOn: os.Getenv("PIXIE_TRACE_TLS") != "off",
		log:   log,
		added: map[uint32]bool{},
	}
	if t.sel.Empty() {
		return nil, &UserError{"nothing to trace", "name processes with --pid, --comm or --all"}
	}
	if err := t.finder.CheckPIDs(cfg.PIDs); err != nil {
		return nil, &UserError{err.Error(), "pass the PID of a running process"}
	}
	return t, nil
}

// attachLibraries puts TLS uprobes on the system's libraries when targets
// are not known by PID: processes started later (execs of --comm) are
// caught by the system's libssl, filtered in the kernel. The host's root,
// and "/" for --local, where /proc/1/root may be closed to us (libraries
// are deduplicated by inode).
func (t *targets) attachLibraries(tr *socktrace.Tracer) {
	if !t.tlsOn || !t.cfg.All && len(t.cfg.Comms) == 0 {
		return
	}
	for _, root := range []string{filepath.Join(t.cfg.ProcRootDir, "1", "root"), "/"} {
		t.log(tr.AttachTLSLibraries(root))
	}
}

// rescan finds the matching processes, hands them to learn (for labels),
// and adds new ones to the kernel filter. With --all and no services to
// name, there is nothing to find.
func (t *targets) rescan(k kernelFilter, learn func([]procs.Proc)) {
	if t.cfg.All && len(t.cfg.Services) == 0 {
		return
	}
	ps, err := t.finder.Find(t.sel)
	if err != nil {
		return
	}
	learn(ps)
	if t.cfg.All {
		return
	}
	for _, p := range ps {
		if t.added[p.PID] || k.AddPID(p.PID) != nil {
			continue
		}
		t.added[p.PID] = true
		if t.tlsOn {
			t.log(k.AttachTLS(t.cfg.ProcRootDir, p.PID))
		}
	}
}
