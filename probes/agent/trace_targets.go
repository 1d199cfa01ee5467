//go:build linux

package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// kernelFilter is what targets need of the socket tracer: the PID filter
// and TLS uprobes (AttachTLS is a no-op for a process holding probes).
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
	scan   tlsScan
	// idle skips the /proc walk when no process was created since the
	// last one (see skipScan); alive are the targets that walk found.
	idle  idleScan
	alive []uint32
}

// idleScan remembers the last full scan: the kernel's last allocated PID
// then (-1 when /proc/loadavg is unreadable) and when it ran.
type idleScan struct {
	lastPID int64
	at      time.Time
	now     func() time.Time
}

// fullRescanEvery bounds how long scans are skipped: an exec without a
// fork (a shell's exec) creates no PID, and a --comm target's process
// whose name changes so is named (and its TLS probed) by then. The kernel
// targets it at its exec already (px_exec).
const fullRescanEvery = 5 * time.Second

// tlsScan is what --all and node/NAME put TLS uprobes on: every process a
// scan finds, within a budget of uprobes per node.
type tlsScan struct {
	seen   map[uint32]bool // PIDs looked at, alive at the last scan
	probes int             // uprobes attached by scans
	budget int
	over   bool      // the budget was reached (said once)
	denied int       // processes whose maps or executable were unreadable
	nodes  *nodePods // node/NAME: pods placed on other nodes are skipped
}

// tlsScanBudget bounds the uprobes scans attach on a node: a Go
// executable takes 2 plus one per RET of (*Conn).Read (about 8), a
// libssl outside the system's libraries 8 per process using it. Each is
// a kernel uprobe and a trap per TLS call of what it covers.
const tlsScanBudget = 1024

// errTLSBudget: the scans' uprobe budget is spent.
var errTLSBudget = errors.New("TLS: the budget of uprobes for --all is spent")

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
		scan: tlsScan{budget: tlsScanBudget,
			nodes: newNodePods(cfg.ProcRootDir, cfg.NodeOnly, cfg.NodePodUIDs, getenvOS(EnvPodUID))},
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
// and adds new ones to the kernel filter. With --all, every process is
// traced already: the scan is for TLS uprobes and for services to name.
func (t *targets) rescan(k kernelFilter, learn func([]procs.Proc)) {
	if t.cfg.All && !t.tlsOn && len(t.cfg.Services) == 0 {
		return
	}
	if t.skipScan() {
		// Nothing new to find; a target may have loaded a TLS library
		// since (Python's ssl module, a plugin): retried as before.
		if t.tlsOn && !t.cfg.All {
			for _, pid := range t.alive {
				t.attachTLS(k, pid, false)
			}
		}
		return
	}
	ps, err := t.finder.Find(t.sel)
	if err != nil {
		return
	}
	t.alive = t.alive[:0]
	for _, p := range ps {
		t.alive = append(t.alive, p.PID)
	}
	if !t.cfg.All || len(t.cfg.Services) > 0 {
		learn(ps)
	}
	if t.cfg.All {
		t.scanTLS(k, ps)
		return
	}
	for _, p := range ps {
		first := !t.added[p.PID]
		if first {
			if k.AddPID(p.PID) != nil {
				continue
			}
			t.added[p.PID] = true
		}
		if t.tlsOn {
			t.attachTLS(k, p.PID, first)
		}
	}
}

// skipScan reports whether a walk of /proc would find nothing the last
// one did not: no process was created since (the last PID the kernel
// allocated, /proc/loadavg's last field, is the same) and the last walk
// is recent. Walking every process's comm, cgroup and stat twice a second
// cost about 1% of a CPU on a host of 100-odd processes, a µs per
// request at 10k requests/s, for nothing on a steady server.
func (t *targets) skipScan() bool {
	now := time.Now
	if t.idle.now != nil {
		now = t.idle.now
	}
	pid, at := lastPID(t.finder.Root), now()
	if pid < 0 || pid != t.idle.lastPID || at.Sub(t.idle.at) >= fullRescanEvery {
		t.idle = idleScan{lastPID: pid, at: at, now: t.idle.now}
		return false
	}
	return true
}

// lastPID is the last PID the kernel allocated in root's PID namespace
// (root: a proc mount, "" for /proc), -1 when it cannot be read.
func lastPID(root string) int64 {
	if root == "" {
		root = "/proc"
	}
	b, err := os.ReadFile(filepath.Join(root, "loadavg"))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) != 5 {
		return -1
	}
	n, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// attachTLS probes a target's TLS, and again at each scan while it holds
// no probes: a libssl it dlopens later (Python's ssl module, a plugin) is
// probed at the next scan after it is mapped. Errors are said once.
func (t *targets) attachTLS(k kernelFilter, pid uint32, first bool) {
	ts, err := k.AttachTLS(t.cfg.ProcRootDir, pid)
	if !first {
		err = nil
	}
	if len(ts) > 0 || err != nil {
		t.log(ts, err)
	}
}

// scanTLS (--all, node/NAME) probes the TLS of each process the first
// time a scan finds it: a Go executable once for all its processes (and
// later ones), a libssl outside the system's libraries per process. Past
// the budget, processes found later are not probed (their HTTPS stays
// opaque) and stderr says so once.
func (t *targets) scanTLS(k kernelFilter, ps []procs.Proc) {
	if !t.tlsOn {
		return
	}
	s := &t.scan
	alive := make(map[uint32]bool, len(ps))
	for _, p := range ps {
		alive[p.PID] = true
		if s.seen[p.PID] || s.nodes.isForeign(p.PID) {
			continue
		}
		if s.probes >= s.budget {
			if !s.over {
				s.over = true
				t.log(nil, fmt.Errorf("%w (%d uprobes): processes found from now on are not probed", errTLSBudget, s.budget))
			}
			continue
		}
		ts, err := k.AttachTLS(t.cfg.ProcRootDir, p.PID)
		for _, x := range ts {
			s.probes += x.Probes
		}
		if errors.Is(err, fs.ErrPermission) {
			// A process even root may not read (an init outside our
			// namespace): said once, not once per such process.
			if s.denied++; s.denied > 1 {
				err = nil
			}
		}
		t.log(ts, err)
	}
	s.seen = alive
}
