//go:build linux

package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// fakeKernel records AttachTLS calls; each attaches 8 uprobes.
type fakeKernel struct{ attached []uint32 }

func (k *fakeKernel) AddPID(uint32) error { return errors.New("--all adds no PID") }
func (k *fakeKernel) AttachTLS(_ string, pid uint32) ([]socktrace.TLSTarget, error) {
	k.attached = append(k.attached, pid)
	return []socktrace.TLSTarget{{PID: pid, Kind: socktrace.TLSGo, Probes: 8}}, nil
}

// fakeProcs makes a proc root holding the given PIDs.
func fakeProcs(t *testing.T, root string, pids ...int) {
	t.Helper()
	for _, p := range pids {
		dir := filepath.Join(root, strconv.Itoa(p))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "comm"), []byte("p"+strconv.Itoa(p)+"\n"), 0o644)
	}
}

// TestScanTLSBudget: with --all, each process a scan finds is probed
// once, in the order found, until the uprobes reach the budget; past it
// none is, and the log says so once.
func TestScanTLSBudget(t *testing.T) {
	t.Setenv("PIXIE_TRACE_TLS", "")
	root := t.TempDir()
	fakeProcs(t, root, 100, 101, 102, 103, 104, 105, 106)
	var budgetLogs, attachLogs int
	tg, err := newTargets(&api.TraceConfig{All: true, ProcRootDir: root}, func(ts []socktrace.TLSTarget, err error) {
		attachLogs += len(ts)
		if errors.Is(err, errTLSBudget) {
			budgetLogs++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.scan.budget = 40
	k := &fakeKernel{}
	learned := 0
	learn := func(ps []procs.Proc) { learned += len(ps) }
	tg.rescan(k, learn)
	if len(k.attached) != 5 || tg.scan.probes != 40 || budgetLogs != 1 || attachLogs != 5 {
		t.Fatalf("first scan: attached %v (%d uprobes), %d budget logs", k.attached, tg.scan.probes, budgetLogs)
	}
	fakeProcs(t, root, 107)
	tg.rescan(k, learn)
	if len(k.attached) != 5 || budgetLogs != 1 {
		t.Fatalf("second scan: attached %v, %d budget logs", k.attached, budgetLogs)
	}
	if learned != 0 {
		t.Fatalf("--all without services learned %d processes", learned)
	}
}

// TestScanTLSNew: a process that appears is probed at the next scan, one
// seen before is not probed again, and the PIDs of exited processes are
// forgotten (a reused PID is probed again).
func TestScanTLSNew(t *testing.T) {
	t.Setenv("PIXIE_TRACE_TLS", "")
	root := t.TempDir()
	fakeProcs(t, root, 200, 201)
	tg, err := newTargets(&api.TraceConfig{All: true, ProcRootDir: root}, func([]socktrace.TLSTarget, error) {})
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{}
	tg.rescan(k, func([]procs.Proc) {})
	fakeProcs(t, root, 202)
	os.RemoveAll(filepath.Join(root, "201"))
	tg.rescan(k, func([]procs.Proc) {})
	if got := k.attached; len(got) != 3 || got[2] != 202 || tg.scan.seen[201] {
		t.Fatalf("attached %v, seen %v", got, tg.scan.seen)
	}
	fakeProcs(t, root, 201)
	tg.rescan(k, func([]procs.Proc) {})
	if got := k.attached; len(got) != 4 || got[3] != 201 {
		t.Fatalf("a reused PID: attached %v", got)
	}
}

// TestScanTLSOff: PIXIE_TRACE_TLS=off puts no uprobe, --all included.
func TestScanTLSOff(t *testing.T) {
	t.Setenv("PIXIE_TRACE_TLS", "off")
	root := t.TempDir()
	fakeProcs(t, root, 300)
	tg, err := newTargets(&api.TraceConfig{All: true, ProcRootDir: root}, func([]socktrace.TLSTarget, error) {})
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{}
	tg.rescan(k, func([]procs.Proc) {})
	if len(k.attached) != 0 {
		t.Fatalf("attached %v", k.attached)
	}
}

// lateKernel maps libssl into a process at its third look, like a
// dlopen after the trace started; it fails the first look.
type lateKernel struct{ looks map[uint32]int }

func (k *lateKernel) AddPID(uint32) error { return nil }
func (k *lateKernel) AttachTLS(_ string, pid uint32) ([]socktrace.TLSTarget, error) {
	k.looks[pid]++
	switch k.looks[pid] {
	case 1:
		return nil, errors.New("maps unreadable for a moment")
	case 3:
		return []socktrace.TLSTarget{{PID: pid, Kind: socktrace.TLSOpenSSL, Probes: 8}}, nil
	}
	return nil, nil
}

// TestRescanTLSLate: a target is looked at again at each scan while it
// holds no probes, so a libssl it maps later is probed; its first error
// is said, later ones not.
func TestRescanTLSLate(t *testing.T) {
	t.Setenv("PIXIE_TRACE_TLS", "")
	root := t.TempDir()
	fakeProcs(t, root, 400)
	var logged []string
	tg, err := newTargets(&api.TraceConfig{PIDs: []uint32{400}, ProcRootDir: root}, func(ts []socktrace.TLSTarget, err error) {
		for _, x := range ts {
			logged = append(logged, x.Kind)
		}
		if err != nil {
			logged = append(logged, "error")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	k := &lateKernel{looks: map[uint32]int{}}
	for range 3 {
		tg.rescan(k, func([]procs.Proc) {})
	}
	if len(logged) != 2 || logged[0] != "error" || logged[1] != socktrace.TLSOpenSSL {
		t.Fatalf("logged %v after 3 scans", logged)
	}
}

// TestRescanSkippedWhenNoProcessStarted: a scan whose /proc/loadavg
// names the same last PID as the scan before finds nothing new and is
// skipped (a process dir added without a new last PID is not found); a
// new last PID, or fullRescanEvery passing, scans again. Skipped scans
// still retry TLS on the targets the last scan found.
func TestRescanSkippedWhenNoProcessStarted(t *testing.T) {
	t.Setenv("PIXIE_TRACE_TLS", "")
	root := t.TempDir()
	fakeProcs(t, root, 400)
	loadavg := func(last int) {
		if err := os.WriteFile(filepath.Join(root, "loadavg"), []byte("0.10 0.20 0.30 1/99 "+strconv.Itoa(last)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loadavg(400)
	tg, err := newTargets(&api.TraceConfig{Comms: []string{"p400", "p401", "p402"}, ProcRootDir: root}, func([]socktrace.TLSTarget, error) {})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	tg.idle.now = func() time.Time { return clock }
	k := &pidKernel{}
	var found []uint32
	learn := func(ps []procs.Proc) {
		for _, p := range ps {
			found = append(found, p.PID)
		}
	}
	tg.rescan(k, learn) // the first scan walks
	fakeProcs(t, root, 401)
	clock = clock.Add(500 * time.Millisecond)
	tg.rescan(k, learn) // same last PID: skipped, 401 not seen
	if !slices.Equal(found, []uint32{400}) || !slices.Equal(k.added, []uint32{400}) {
		t.Fatalf("after a skipped scan: learned %v, filtered %v; want only 400", found, k.added)
	}
	if k.tls[400] != 2 {
		t.Errorf("TLS tried %d times on 400, want 2 (the scan and the skipped one)", k.tls[400])
	}
	loadavg(401)
	clock = clock.Add(500 * time.Millisecond)
	tg.rescan(k, learn) // a process was created: walks
	if !slices.Contains(k.added, 401) {
		t.Fatalf("a new last PID did not scan: filtered %v", k.added)
	}
	fakeProcs(t, root, 402) // as by an exec without a fork: no new PID
	for range 9 {
		clock = clock.Add(500 * time.Millisecond)
		tg.rescan(k, learn)
	}
	if slices.Contains(k.added, 402) {
		t.Fatalf("scanned before fullRescanEvery: filtered %v", k.added)
	}
	clock = clock.Add(500 * time.Millisecond)
	tg.rescan(k, learn)
	if !slices.Contains(k.added, 402) {
		t.Fatalf("no scan after fullRescanEvery: filtered %v", k.added)
	}
}

// pidKernel records the PIDs put in the filter and the TLS attempts.
type pidKernel struct {
	added []uint32
	tls   map[uint32]int
}

func (k *pidKernel) AddPID(pid uint32) error { k.added = append(k.added, pid); return nil }
func (k *pidKernel) AttachTLS(_ string, pid uint32) ([]socktrace.TLSTarget, error) {
	if k.tls == nil {
		k.tls = map[uint32]int{}
	}
	k.tls[pid]++
	return nil, nil
}
