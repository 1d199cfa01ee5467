//go:build linux

package agent

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/connstats"
)

// pipeline turns socket events into records (the tracker), labels them
// with their pod, aggregates them into endpoints and emits them: the part
// of a trace that needs no kernel.
type pipeline struct {
	mu        sync.Mutex // guards everything below and the *_events stream
	cfg       *api.TraceConfig
	out       *Emitter
	tracker   *conn.Tracker
	agg       *stats.Aggregator
	procs     map[uint32]procs.Proc // targets' container and pod, for labels
	forked    int                   // entries of procs added at a fork (adopt)
	nodePods  *nodePods             // node/NAME: other nodes' pods dropped; nil: none
	samples   *sampler              // --slow, --errors; nil: none
	records   uint64
	lastStats time.Time
	conns     *connstats.Table
	dns       *dnsNames // addresses named by this node's traced DNS answers
	// connBytes reads the kernel's byte counts of open connections
	// (Tracer.ConnBytes); nil without a tracer (tests).
	connBytes       func(func(id conn.ID, sent, recv uint64)) error
	connBytesWarned bool
}

func newPipeline(cfg *api.TraceConfig, access api.DataAccess, out *Emitter, ps []conn.Protocol) *pipeline {
	p := &pipeline{cfg: cfg, out: out, agg: stats.NewAggregator(stats.Config{}), procs: map[uint32]procs.Proc{}, lastStats: time.Now(), conns: connstats.New(), dns: newDNSNames(maxDNSNames),
		nodePods: newNodePods(cfg.ProcRootDir, cfg.NodeOnly, cfg.NodePodUIDs, getenvOS(EnvPodUID))}
	if cfg.Samples != nil {
		p.samples = newSampler(*cfg.Samples, defaultSampleBudget)
	}
	// Without -o json only aggregates leave the node: skip building
	// header maps and keeping bodies, the costliest part of a record.
	bodyLimit := cfg.BodyLimit
	if !cfg.EmitEvents || bodyLimit == 0 {
		bodyLimit = -1 // the tracker's "none"
	}
	p.tracker = conn.NewTracker(conn.Options{
		Protocols:    ps,
		Summaries:    protocols.Summaries(),
		BodyLimit:    bodyLimit,
		Access:       access,
		NoHeaders:    !cfg.EmitEvents,
		WallOffsetNs: monoToWallOffset(),
	}, p.record)
	return p
}

// handle feeds one socket event to the tracker.
func (p *pipeline) handle(ev *conn.Event) {
	p.mu.Lock()
	if ev.Kind == conn.KindFork {
		p.adopt(ev.ID.TGID, uint32(ev.ID.FD))
		p.mu.Unlock()
		return
	}
	if p.nodePods.isForeign(ev.ID.TGID) {
		p.mu.Unlock()
		return
	}
	if ev.Kind != conn.KindData && ev.Kind != conn.KindHTTP1 && ev.Kind != conn.KindHTTP1Handoff {
		// Before the Tracker: it forgets a connection's protocol at its close.
		p.conns.Event(ev, p.tracker.Protocol)
	}
	p.tracker.Handle(ev)
	p.mu.Unlock()
}

// learn remembers processes' containers and pods, to label their records.
func (p *pipeline) learn(ps []procs.Proc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range ps {
		p.procs[pr.PID] = pr
	}
}

// maxForked bounds the processes named after their parent at fork: a
// server forking per connection adds one per connection.
const maxForked = 1 << 16

// adopt gives a forked child its parent's container, pod and name (a
// scan finds a process only every rescanEvery; a PostgreSQL backend lives
// for one connection, often shorter).
func (p *pipeline) adopt(child, parent uint32) {
	pr, ok := p.procs[parent]
	if _, known := p.procs[child]; !ok || known || p.forked >= maxForked {
		return
	}
	pr.PID = child
	p.procs[child] = pr
	p.forked++
}

// record is the tracker's sink (called with mu held): label, filter,
// aggregate and, with -o json, emit. A filter drops a request from both
// the stats and the records; one it cannot judge (no observation) too.
func (p *pipeline) record(proto conn.Protocol, rec api.Record) {
	p.records++
	c := rec.Conn()
	service := p.label(c)
	if ev, isDNS := rec.(*api.DNSEvent); isDNS {
		p.dns.learn(ev)
	}
	c.RemoteDNS = p.dns.name(c.RemoteAddr)
	obs, ok := protocols.Observe(proto, rec)
	if ok {
		obs.Service, obs.Role, obs.Peer = service, c.TraceRole, peerOf(c)
		if c.TraceRole == vocab.RoleClient {
			obs.PeerDNS = c.RemoteDNS
		}
		if p.cfg.ServerPeers && c.TraceRole == vocab.RoleServer {
			obs.Peer = c.RemoteAddr
		}
		if p.cfg.Map {
			obs.Service, obs.Peer = api.ProcessName(service, c.PID), p.mapPeer(c)
		}
		obs.LatencyNs, obs.TimeNs = c.Latency, c.Time
	}
	if p.cfg.Filter != nil && (!ok || !p.cfg.Filter.Keep(&obs)) {
		return
	}
	if ok {
		p.agg.Add(obs)
		if p.cfg.EmitEvents && p.cfg.EventObs {
			o := obs // kept by a sample too
			rec.Head().Obs = &o
		}
		if p.samples != nil {
			p.samples.offer(rec, &obs)
		}
	}
	if p.cfg.EmitEvents {
		h := rec.Head()
		h.Table = rec.TableName()
		p.out.Emit(h, rec)
	}
}

// label fills a record's pod columns and returns its service name: the
// pod's service when named in the configuration, else the process name.
func (p *pipeline) label(c *api.ConnColumns) string {
	service := c.Comm
	pr, ok := p.procs[c.PID]
	if !ok {
		return service
	}
	c.ContainerID, c.PodUID = pr.ContainerID, pr.PodUID
	if pr.Comm != "" {
		// The process's name, not its thread's: RabbitMQ's beam.smp does
		// I/O from "1_scheduler", "2_scheduler".
		service = pr.Comm
	}
	if name := p.cfg.Services[pr.PodUID]; name != "" {
		service = name
	}
	return service
}

// peerOf is a client's server address; servers have no peer column.
func peerOf(c *api.ConnColumns) string {
	if c.TraceRole == vocab.RoleClient {
		return fmt.Sprintf("%s:%d", c.RemoteAddr, c.RemotePort)
	}
	return ""
}

// mapPeer is a row's peer in a service map: a client's server address
// (the plugin names its process from listening_ports), a server's calling
// process when traced on this host, else the caller's IP.
func (p *pipeline) mapPeer(c *api.ConnColumns) string {
	if c.TraceRole != vocab.RoleServer {
		return peerOf(c)
	}
	if a, err := netip.ParseAddr(c.RemoteAddr); err == nil {
		if pid, comm, ok := p.conns.Owner(netip.AddrPortFrom(a, c.RemotePort)); ok {
			if pr, ok := p.procs[pid]; ok && pr.Comm != "" {
				comm = pr.Comm
			}
			return api.ProcessName(comm, pid)
		}
	}
	return c.RemoteAddr
}

// traced tells whether the agent traced process pid (targeted, or seen
// with a connection: children are targeted in the kernel).
func (p *pipeline) traced(pid uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, known := p.procs[pid]
	return known || p.conns.Seen(pid)
}

// pending tells whether endpoints wait to be sent.
func (p *pipeline) pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agg.Len() > 0
}

// emitStats sends the endpoints' delta since the last call (all of them,
// with connections flushed and the samples first, when final) and the
// footer footer builds from the tracker's counters; it reports whether it
// carried any endpoint.
func (p *pipeline) emitStats(final bool, footer func(conn.Stats, uint64) *api.ProbeStats) bool {
	p.mu.Lock()
	now := time.Now()
	connRows := p.connStats(now, final)
	var samplesDropped uint64
	if final {
		p.tracker.Flush()
		if p.samples != nil {
			p.samples.emit(p.out)
			samplesDropped = p.samples.dropped
		}
	}
	rows := p.agg.Drain()
	cs := p.tracker.Stats()
	n, dnsEvicted := p.records, p.dns.evicted
	p.mu.Unlock()
	st := &api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Time: now.UnixNano(), IntervalNs: now.Sub(p.lastStats).Nanoseconds(), Rows: rows}
	p.lastStats = now
	p.out.Emit(&st.Header, st)
	for i := range connRows {
		p.out.Emit(&connRows[i].Header, &connRows[i])
	}
	ps := footer(cs, n)
	ps.DNSNamesEvicted = dnsEvicted
	if samplesDropped > 0 {
		// Listed, not counted as lost: every request is in the table.
		if ps.LostBy == nil {
			ps.LostBy = map[string]uint64{}
		}
		ps.LostBy["samples_over_budget"] = samplesDropped
	}
	p.out.Emit(&ps.Header, ps)
	p.out.Flush()
	return len(rows) > 0
}

// tick runs every flushEvery until ctx ends: it pushes out buffered
// records, sends the first endpoints as soon as there are any (the first
// table row should not wait a whole interval), then stats every interval,
// and calls rescan every rescanEvery.
func (p *pipeline) tick(ctx context.Context, footer func(conn.Stats, uint64) *api.ProbeStats, rescan func()) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	interval := time.Duration(p.cfg.IntervalNs)
	sentRows := false
	var sinceScan time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(p.lastStats) >= interval || (!sentRows && p.pending()) {
			sentRows = p.emitStats(false, footer) || sentRows
		} else {
			p.out.Flush()
		}
		if sinceScan += flushEvery; sinceScan >= rescanEvery {
			sinceScan = 0
			rescan()
		}
	}
}

// connStats reads the open connections' byte counts from the kernel and
// returns the conn_stats rows that changed (all of them when final),
// labelled like records (called with mu held).
func (p *pipeline) connStats(now time.Time, final bool) []api.ConnStats {
	if p.connBytes != nil {
		// Once: under heavy churn a walk of the table can abort again and
		// again (entries deleted under it); the next one catches up.
		if err := p.connBytes(p.conns.SetBytes); err != nil && !p.connBytesWarned {
			p.connBytesWarned = true
			p.out.Log(api.LevelWarning, "conn_stats: "+err.Error(), "byte counts of open connections may be behind; closed ones are exact")
		}
	}
	rows := p.conns.Changed(now.UnixNano(), p.tracker.Protocol, final)
	for i := range rows {
		rows[i].RemoteDNS = p.dns.name(rows[i].RemoteAddr)
		if pr, ok := p.procs[rows[i].PID]; ok {
			rows[i].ContainerID, rows[i].PodUID = pr.ContainerID, pr.PodUID
			if pr.Comm != "" {
				rows[i].Comm = pr.Comm
			}
		}
	}
	return rows
}
