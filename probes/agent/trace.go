//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

func init() { commands["trace"] = runTrace }

// Defaults of api.TraceConfig.
const (
	defaultInterval   = time.Second
	defaultMaxPayload = api.DefaultMaxPayload
	defaultRingBytes  = 8 << 20
	rescanEvery       = 500 * time.Millisecond
	flushEvery        = 250 * time.Millisecond
)

func runTrace(args []string, stdout, stderr io.Writer) int {
	return runConfigured("trace", args, stdout, stderr, Trace)
}

func traceDefaults(cfg *api.TraceConfig) {
	if cfg.IntervalNs <= 0 {
		cfg.IntervalNs = int64(defaultInterval)
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = defaultMaxPayload
	}
	if cfg.RingBytes <= 0 {
		cfg.RingBytes = defaultRingBytes
	}
	if cfg.ProcRootDir == "" {
		cfg.ProcRootDir = "/proc"
	}
	if cfg.DurationNs <= 0 {
		cfg.DurationNs = int64(30 * time.Second)
	}
}

// Trace runs the socket tracer for the configured window and writes
// http_events, redis_events and dns_events (when asked), http_stats every
// interval (rows of every protocol) and probe_stats.
func Trace(ctx context.Context, cfg api.TraceConfig, out *Emitter) error {
	start := time.Now()
	traceDefaults(&cfg)
	access, err := cfg.Access()
	if err != nil {
		return &UserError{err.Error(), "pass --data-access restricted, full or none"}
	}
	if err := api.CheckBodyLimit(cfg.BodyLimit, cfg.MaxPayload); err != nil {
		return &UserError{err.Error(), "pass a --body-limit within that range"}
	}
	sel := procs.Selector{
		PIDs: cfg.PIDs, Comms: cfg.Comms, All: cfg.All,
		ContainerIDs: cfg.ContainerIDs, PodUIDs: cfg.PodUIDs,
		Exclude: []uint32{uint32(os.Getpid()), uint32(os.Getppid())},
	}
	if sel.Empty() {
		return &UserError{"nothing to trace", "name processes with --pid, --comm or --all"}
	}
	finder := procs.Finder{Root: cfg.ProcRootDir}
	if err := finder.CheckPIDs(cfg.PIDs); err != nil {
		return &UserError{err.Error(), "pass the PID of a running process"}
	}
	if err := preflight(); err != nil {
		return err
	}

	tr, err := socktrace.New(socktrace.Config{
		TargetAll:  cfg.All,
		MaxPayload: cfg.MaxPayload,
		RingBytes:  cfg.RingBytes,
		// --comm follows execs: Go TLS probes go on the executable.
		TLSPerExecutable: len(cfg.Comms) > 0,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, c := range cfg.Comms {
		if err := tr.AddComm(c); err != nil {
			return err
		}
	}
	tlsLog := func(ts []socktrace.TLSTarget, err error) {
		for _, t := range ts {
			out.Log(api.LevelInfo, "TLS: "+t.String(), "")
		}
		if err != nil {
			out.Log(api.LevelWarning, err.Error(), "run as root with uprobes available; HTTPS of that process is not decoded")
		}
	}
	// PIXIE_TRACE_TLS=off: no uprobes on TLS libraries (HTTPS stays opaque).
	tlsOn := os.Getenv("PIXIE_TRACE_TLS") != "off"
	if tlsOn && (cfg.All || len(cfg.Comms) > 0) {
		// Processes started later (execs of --comm) are caught by the
		// system's libssl, filtered in the kernel. The host's root, and
		// "/" for --local, where /proc/1/root may be closed to us
		// (libraries are deduplicated by inode).
		for _, root := range []string{filepath.Join(cfg.ProcRootDir, "1", "root"), "/"} {
			tlsLog(tr.AttachTLSLibraries(root))
		}
	}

	// targets are the processes added to the kernel filter; procInfo keeps
	// their container and pod, to label records.
	targets := map[uint32]bool{}
	procInfo := map[uint32]procs.Proc{}
	var mu sync.Mutex // guards agg, tracker, procInfo and the http_events stream
	rescan := func() {
		if cfg.All && len(cfg.Services) == 0 {
			return
		}
		ps, err := finder.Find(sel)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range ps {
			procInfo[p.PID] = p
			if !targets[p.PID] && !cfg.All {
				if tr.AddPID(p.PID) == nil {
					targets[p.PID] = true
					if tlsOn {
						tlsLog(tr.AttachTLS(cfg.ProcRootDir, p.PID))
					}
				}
			}
		}
	}
	rescan()
	attach := time.Since(start)
	ready := &api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "trace", AttachNs: attach.Nanoseconds(), Targets: len(targets)}
	out.Emit(&ready.Header, ready)
	out.Log(api.LevelInfo, accessNote[access], "")
	if !cfg.All && len(targets) == 0 {
		out.Log(api.LevelWarning, "no process matches yet; waiting for one to start", "check the name with `ps -e -o comm`")
	}
	out.Flush()

	agg := stats.NewAggregator(stats.Config{})
	var records uint64
	// label fills a record's pod columns and returns its service name.
	label := func(pid uint32, comm string, containerID, podUID *string) string {
		service := comm
		if p, ok := procInfo[pid]; ok {
			*containerID, *podUID = p.ContainerID, p.PodUID
			if p.Comm != "" {
				// The process's name, not its thread's: RabbitMQ's
				// beam.smp does I/O from "1_scheduler", "2_scheduler".
				service = p.Comm
			}
			if name := cfg.Services[p.PodUID]; name != "" {
				service = name
			}
		}
		return service
	}
	sink := func(p conn.Protocol, rec api.Record) {
		records++
		c := rec.Conn()
		service := label(c.PID, c.Comm, &c.ContainerID, &c.PodUID)
		if obs, ok := protocols.Observe(p, rec); ok {
			obs.Service, obs.Role, obs.Peer = service, c.TraceRole, peerOf(c)
			obs.LatencyNs, obs.TimeNs = c.Latency, c.Time
			agg.Add(obs)
		}
		if cfg.EmitEvents {
			h := rec.Head()
			h.Table = rec.TableName()
			out.Emit(h, rec)
		}
	}
	// Without -o json only aggregates leave the node: skip building
	// header maps and keeping bodies, the costliest part of a record.
	bodyLimit := cfg.BodyLimit
	if !cfg.EmitEvents || bodyLimit == 0 {
		bodyLimit = -1 // the tracker's "none"
	}
	tracker := conn.NewTracker(conn.Options{
		Protocols:    protocols.All(),
		BodyLimit:    bodyLimit,
		Access:       access,
		NoHeaders:    !cfg.EmitEvents,
		WallOffsetNs: monoToWallOffset(),
	}, sink)

	runCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.DurationNs))
	defer cancel()

	// emitStats sends the delta since the last call; it reports whether
	// it carried any endpoint.
	lastStats := time.Now()
	emitStats := func(final bool) bool {
		mu.Lock()
		if final {
			tracker.Flush()
		}
		rows := agg.Drain()
		cs := tracker.Stats()
		n := records
		mu.Unlock()
		now := time.Now()
		st := &api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Time: now.UnixNano(), IntervalNs: now.Sub(lastStats).Nanoseconds(), Rows: rows}
		lastStats = now
		out.Emit(&st.Header, st)
		ps := probeStats(tr.Stats(), cs, n, time.Since(start), attach, final)
		out.Emit(&ps.Header, ps)
		out.Flush()
		return len(rows) > 0
	}

	// Every flushEvery: push out buffered http_events, and send the first
	// endpoints as soon as there are any (the first table row should not
	// wait a whole interval); then stats every interval.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		interval := time.Duration(cfg.IntervalNs)
		sentRows := false
		var sinceScan time.Duration
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			pending := agg.Len() > 0
			mu.Unlock()
			if time.Since(lastStats) >= interval || (!sentRows && pending) {
				sentRows = emitStats(false) || sentRows
			} else {
				out.Flush()
			}
			if sinceScan += flushEvery; sinceScan >= rescanEvery {
				sinceScan = 0
				rescan()
			}
		}
	}()
	err = tr.Run(runCtx, func(ev *conn.Event) {
		mu.Lock()
		tracker.Handle(ev)
		mu.Unlock()
	})
	wg.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("reading events: %w", err)
	}
	emitStats(true)
	return out.Err()
}

// accessNote tells stderr which data-access mode the records follow.
var accessNote = map[api.DataAccess]string{
	api.DataAccessRestricted: "data access: restricted (values, bodies, query strings and most headers are redacted in the node; --data-access full keeps them)",
	api.DataAccessFull:       "data access: full (records keep values and bodies up to the body limit)",
	api.DataAccessNone:       "data access: none (records keep only methods, path and statement templates, statuses, sizes and latencies)",
}

// peerOf is a client's server address; servers have no peer column.
func peerOf(c *api.ConnColumns) string {
	if c.TraceRole == vocab.RoleClient {
		return fmt.Sprintf("%s:%d", c.RemoteAddr, c.RemotePort)
	}
	return ""
}

// probeStats builds the footer. EventsLost counts what was really lost:
// events the kernel dropped, and messages the parsers could not use or
// match. Truncated payloads are listed but not counted: the parsers need
// only headers, and bodies are sized from them.
func probeStats(ts socktrace.Stats, cs conn.Stats, records uint64, window, attach time.Duration, final bool) *api.ProbeStats {
	lost := map[string]uint64{}
	var total uint64
	add := func(k string, v uint64, counts bool) {
		if v == 0 {
			return
		}
		lost[k] += v
		if counts {
			total += v
		}
	}
	for k, v := range ts.LostBy {
		add(k, v, k != socktrace.LostTruncated && k != socktrace.LostNConnsFull)
	}
	add("parse_errors", cs.ParseErrors, true)
	add("gaps", cs.Gaps, true)
	add("evicted_conns", cs.EvictedConns, true)
	add("budget_evicted_conns", cs.BudgetConns, true)
	add("unmatched_requests", cs.UnmatchedRequests, true)
	add("unmatched_responses", cs.UnmatchedResponses, true)
	return &api.ProbeStats{
		Header:         api.Header{Table: api.TableProbeStats},
		Probe:          "trace",
		WindowNs:       window.Nanoseconds(),
		EventsCaptured: ts.Captured,
		EventsLost:     total,
		LostBy:         lost,
		Records:        records,
		BPFRunNs:       ts.BPFRunNs,
		BPFRunCount:    ts.BPFRunCount,
		UserCPUNs:      selfCPU(),
		PeakRSSBytes:   selfPeakRSS(),
		AttachNs:       attach.Nanoseconds(),
		Final:          final,
	}
}

// preflight gives clear errors for the common reasons probes cannot load.
func preflight() error {
	if os.Geteuid() != 0 {
		return &UserError{"tracing needs root (eBPF)", "run it with sudo, or in a privileged probe pod"}
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		var u syscall.Utsname
		_ = syscall.Uname(&u)
		return &UserError{fmt.Sprintf("this kernel (%s) exposes no BTF at /sys/kernel/btf/vmlinux", utsString(u.Release[:])),
			"kubectl pixie needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y"}
	}
	return nil
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
