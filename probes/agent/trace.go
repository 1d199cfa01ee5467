//go:build linux

package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http2"
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
	other := func(cc *api.ConnColumns, proto, method, path, class string, reqBytes, respBytes int64) {
		service := label(cc.PID, cc.Comm, &cc.ContainerID, &cc.PodUID)
		peer := ""
		if cc.TraceRole == vocab.RoleClient {
			peer = fmt.Sprintf("%s:%d", cc.RemoteAddr, cc.RemotePort)
		}
		agg.Add(stats.Observation{
			Protocol:  proto,
			Service:   service,
			Role:      cc.TraceRole,
			Method:    method,
			Path:      path,
			Peer:      peer,
			Class:     class,
			LatencyNs: cc.Latency,
			ReqBytes:  reqBytes,
			RespBytes: respBytes,
			TimeNs:    cc.Time,
		})
	}
	sink := func(rec any) {
		switch ev := rec.(type) {
		case *api.RedisEvent:
			records++
			other(&ev.ConnColumns, vocab.ProtocolRedis, ev.ReqCmd, "", cmp.Or(ev.RespError, "OK"), ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TableRedisEvents
				out.Emit(&ev.Header, ev)
			}
			return
		case *api.PgSQLEvent:
			records++
			method, path := sqlEndpoint(ev.QueryKind, ev.QueryTemplate, ev.ReqCmd)
			other(&ev.ConnColumns, vocab.ProtocolPgSQL, method, path, cmp.Or(ev.SQLState, "OK"), ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TablePgSQLEvents
				out.Emit(&ev.Header, ev)
			}
			return
		case *api.MySQLEvent:
			records++
			method, path := sqlEndpoint(ev.QueryKind, ev.QueryTemplate, ev.ReqCmd)
			class := "OK"
			if ev.RespStatus == "ERR" {
				class = strconv.Itoa(ev.ErrCode)
			}
			other(&ev.ConnColumns, vocab.ProtocolMySQL, method, path, class, ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TableMySQLEvents
				out.Emit(&ev.Header, ev)
			}
			return
		case *api.AMQPEvent:
			records++
			other(&ev.ConnColumns, vocab.ProtocolAMQP, ev.Method, amqpPath(ev), amqpClass(ev), ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TableAMQPEvents
				out.Emit(&ev.Header, ev)
			}
			return
		case *api.KafkaEvent:
			records++
			other(&ev.ConnColumns, vocab.ProtocolKafka, ev.ReqCmd, ev.Topic, cmp.Or(ev.ErrorName, "OK"), ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TableKafkaEvents
				out.Emit(&ev.Header, ev)
			}
			return
		case *api.DNSEvent:
			records++
			other(&ev.ConnColumns, vocab.ProtocolDNS, ev.QueryType, ev.QueryName, ev.RCodeName, ev.ReqBytes, ev.RespBytes)
			if cfg.EmitEvents {
				ev.Table = api.TableDNSEvents
				out.Emit(&ev.Header, ev)
			}
			return
		}
		ev, ok := rec.(*api.HTTPEvent)
		if !ok {
			return
		}
		records++
		service := label(ev.PID, ev.Comm, &ev.ContainerID, &ev.PodUID)
		if ev.Protocol == vocab.ProtocolGRPC {
			// The endpoint is the method, the status its grpc-status.
			agg.Add(stats.Observation{
				Protocol:  vocab.ProtocolGRPC,
				Service:   service,
				Role:      ev.TraceRole,
				Method:    ev.ReqPath,
				Peer:      peerOf(ev),
				Class:     grpcClass(ev),
				LatencyNs: ev.Latency,
				ReqBytes:  ev.ReqBodySize,
				RespBytes: ev.RespBodySize,
				TimeNs:    ev.Time,
			})
			if cfg.EmitEvents {
				ev.Table = api.TableHTTPEvents
				out.Emit(&ev.Header, ev)
			}
			return
		}
		agg.Add(stats.Observation{
			Service:   service,
			Role:      ev.TraceRole,
			Method:    ev.ReqMethod,
			Path:      ev.ReqPath,
			Peer:      peerOf(ev),
			Status:    ev.RespStatus,
			LatencyNs: ev.Latency,
			ReqBytes:  ev.ReqBodySize,
			RespBytes: ev.RespBodySize,
			TimeNs:    ev.Time,
		})
		if cfg.EmitEvents {
			ev.Table = api.TableHTTPEvents
			out.Emit(&ev.Header, ev)
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

// grpcClass is a gRPC call's status class: its grpc-status name, else
// the HTTP status that replaced it ("http 502", from a proxy), else "err".
func grpcClass(ev *api.HTTPEvent) string {
	if name := http2.GRPCStatusName(ev.GRPCStatus); name != "" {
		return name
	}
	if ev.RespStatus != 0 && ev.RespStatus != 200 {
		return fmt.Sprintf("http %d", ev.RespStatus)
	}
	return stats.StatusErr
}

func peerOf(ev *api.HTTPEvent) string {
	if ev.TraceRole == vocab.RoleClient {
		return fmt.Sprintf("%s:%d", ev.RemoteAddr, ev.RemotePort)
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

// sqlEndpoint is a SQL record's endpoint: the statement kind as the method
// and the template after it as the path ("SELECT", "abalance FROM t WHERE
// aid = $1"), so rows read "pgsql SELECT abalance FROM ...".
func sqlEndpoint(kind, tmpl, cmd string) (method, path string) {
	if kind == "" {
		return cmd, tmpl
	}
	if rest, ok := strings.CutPrefix(tmpl, kind); ok && (rest == "" || rest[0] == ' ') {
		return kind, strings.TrimSpace(rest)
	}
	return kind, tmpl
}

// amqpPath is the endpoint's second part: exchange/routing-key of the
// methods that carry messages, bounded; other methods have none.
func amqpPath(ev *api.AMQPEvent) string {
	switch ev.Method {
	case "basic.publish", "basic.deliver", "basic.return":
		p := ev.Exchange + "/" + ev.RoutingKey
		if len(p) > 120 {
			p = strings.ToValidUTF8(p[:120], "") + "…"
		}
		return p
	}
	return ""
}

// amqpClass is "OK", or the reply code of the close that answered (or
// is) the method, or of a basic.return.
func amqpClass(ev *api.AMQPEvent) string {
	if ev.ReplyCode != 0 {
		return strconv.Itoa(ev.ReplyCode)
	}
	return "OK"
}
