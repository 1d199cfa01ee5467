//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
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

// Trace runs the socket tracer for the configured window and writes the
// records of every protocol (when asked), http_stats every interval (rows
// of every protocol) and probe_stats.
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
	if err := cfg.Filter.Compile(); err != nil {
		return &UserError{"filter: " + err.Error(), "fix the --protocol, --status, --min-latency or --endpoint value"}
	}
	if err := cfg.Samples.Check(); err != nil {
		return &UserError{"samples: " + err.Error(), "fix the --slow or --samples value"}
	}
	summarize, err := kernelHTTP1(&cfg, getenvOS(EnvKernelHTTP1))
	if err != nil {
		return err
	}
	tgt, err := newTargets(&cfg, tlsLogger(out))
	if err != nil {
		return err
	}
	if err := preflight(); err != nil {
		return err
	}
	tr, err := attachTracer(&cfg, tgt, summarize)
	if err != nil {
		return err
	}
	defer tr.Close()

	p := newPipeline(&cfg, access, out, protocols.All())
	p.connBytes = tr.ConnBytes
	rescan := func() { tgt.rescan(tr, p.learn) }
	rescan()
	attach := time.Since(start)
	ready := &api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "trace", AttachNs: attach.Nanoseconds(), Targets: len(tgt.added)}
	out.Emit(&ready.Header, ready)
	emitListeners(&cfg, out, p)
	out.Log(api.LevelInfo, accessNote[access], "")
	if !cfg.All && len(tgt.added) == 0 {
		out.Log(api.LevelWarning, "no process matches yet; waiting for one to start", "check the name with `ps -e -o comm`")
	}
	out.Flush()

	if summarize && !tr.HTTP1Summary() {
		out.Log(api.LevelWarning, "HTTP/1 summaries in the kernel need bpf_loop (Linux >= 5.17); every call goes as payload", "")
	}
	footer := func(cs conn.Stats, records uint64) *api.ProbeStats {
		return probeStats(tr.Stats(), cs, records, time.Since(start), attach, false)
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.DurationNs))
	defer cancel()
	p.lastStats = time.Now() // the first interval starts now, attached
	var wg sync.WaitGroup
	wg.Go(func() { p.tick(runCtx, footer, rescan) })
	err = tr.Run(runCtx, p.handle)
	wg.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("reading events: %w", err)
	}
	emitListeners(&cfg, out, p)
	p.emitStats(true, func(cs conn.Stats, records uint64) *api.ProbeStats {
		return probeStats(tr.Stats(), cs, records, time.Since(start), attach, true)
	})
	return out.Err()
}

// EnvKernelHTTP1 switches HTTP/1 summaries in the kernel: off (the
// default), on (where the view needs no heads or bodies: the aggregated
// table, map), or force (every mode; records then carry no headers,
// bodies or reason: for tests of the summaries' fidelity).
const EnvKernelHTTP1 = "PIXIE_KERNEL_HTTP1"

// kernelHTTP1 tells whether the kernel summarizes HTTP/1 exchanges for
// cfg, with the switch's value v.
func kernelHTTP1(cfg *api.TraceConfig, v string) (bool, error) {
	switch v {
	case "", "off":
		return false, nil
	case "on":
		// Records, samples and recordings need heads and bodies.
		return !cfg.EmitEvents && cfg.Samples == nil && !cfg.EventObs, nil
	case "force":
		return true, nil
	}
	return false, &UserError{fmt.Sprintf("%s=%q: unknown value", EnvKernelHTTP1, v), "set it to on, off or force, or unset it"}
}

// emitListeners sends listening_ports for a service map.
func emitListeners(cfg *api.TraceConfig, out *Emitter, p *pipeline) {
	if !cfg.Map && !cfg.ListenPorts {
		return
	}
	ls := listeningPorts(cfg.ProcRootDir, p.traced)
	for i := range ls {
		out.Emit(&ls[i].Header, &ls[i])
	}
}

// accessNote tells stderr which data-access mode the records follow.
var accessNote = map[api.DataAccess]string{
	api.DataAccessRestricted: "data access: restricted (values, bodies, query strings and most headers are redacted in the node; --data-access full keeps them)",
	api.DataAccessFull:       "data access: full (records keep values and bodies up to the body limit)",
	api.DataAccessNone:       "data access: none (records keep only methods, path and statement templates, statuses, sizes and latencies)",
}

// attachTracer loads the socket tracer with its filter for --comm and the
// TLS uprobes on system libraries.
func attachTracer(cfg *api.TraceConfig, tgt *targets, summarize bool) (*socktrace.Tracer, error) {
	tr, err := socktrace.New(socktrace.Config{
		TargetAll:    cfg.All,
		MaxPayload:   cfg.MaxPayload,
		RingBytes:    cfg.RingBytes,
		HTTP1Summary: summarize,
		// --comm follows execs, --all takes every process: Go TLS
		// probes go on the executable.
		TLSPerExecutable: len(cfg.Comms) > 0 || cfg.All,
	})
	if err != nil {
		return nil, err
	}
	for _, c := range cfg.Comms {
		if err := tr.AddComm(c); err != nil {
			tr.Close()
			return nil, err
		}
	}
	tgt.attachLibraries(tr)
	return tr, nil
}

// tlsLogger reports TLS uprobes attached, and why some could not be.
func tlsLogger(out *Emitter) func([]socktrace.TLSTarget, error) {
	return func(ts []socktrace.TLSTarget, err error) {
		for _, t := range ts {
			out.Log(api.LevelInfo, "TLS: "+t.String(), "")
		}
		switch {
		case errors.Is(err, errTLSBudget):
			out.Log(api.LevelWarning, err.Error(), "name the processes whose HTTPS you need with --comm or --pid")
		case err != nil:
			out.Log(api.LevelWarning, err.Error(), "run as root with uprobes available; HTTPS of that process is not decoded")
		}
	}
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
		add(k, v, k != socktrace.LostTruncated && k != socktrace.LostNConnsFull && k != socktrace.LostIOVCut)
	}
	add("parse_errors", cs.ParseErrors, true)
	add("gaps", cs.Gaps, true)
	add("evicted_conns", cs.EvictedConns, true)
	add("budget_evicted_conns", cs.BudgetConns, true)
	add("unmatched_requests", cs.UnmatchedRequests, true)
	add("unmatched_responses", cs.UnmatchedResponses, true)
	add("dropped_summaries", cs.DroppedSummaries, true)
	var kernel *api.KernelSummaries
	if ts.HTTP1Fallbacks != nil {
		kernel = &api.KernelSummaries{Summaries: ts.HTTP1Summaries, Fallbacks: map[string]uint64{}}
		for k, v := range ts.HTTP1Fallbacks {
			if v > 0 {
				kernel.Fallbacks[k] = v
			}
		}
	}
	return &api.ProbeStats{
		KernelHTTP1:    kernel,
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
