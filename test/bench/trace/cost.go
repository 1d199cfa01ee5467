//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// costMode is one way of running the fixed-count load: over HTTP or HTTPS,
// with or without the agent, aggregated or -o json.
type costMode struct {
	name        string
	tls, traced bool
	json, slow  bool   // -o json; --slow 100us --errors (sampled records)
	target      string // µs per request the issue asks for ("" for untraced)
	bin         string // the agent binary; "" for -agent
	env         string // an extra environment variable of the agent
}

var costModes = []costMode{
	{name: "untraced"},
	{name: "aggregated (default)", traced: true, target: "3 (2 stretch)"},
	{name: "aggregated, kernel HTTP/1", traced: true, env: "PIXIE_KERNEL_HTTP1=on", target: "3 (2 stretch)"},
	{name: "-o json", traced: true, json: true, target: "5"},
	{name: "aggregated --slow 100us --errors", traced: true, slow: true, target: "-"},
	{name: "untraced, HTTPS", tls: true},
	{name: "aggregated, HTTPS (TLS uprobes)", tls: true, traced: true, target: "-"},
}

// costSample is one run's CPU, all in ns: the whole machine's (/proc/stat),
// the processes of the workload (server, client, agent), the agent's
// alone and its BPF programs' (bpf_stats), over requests requests.
type costSample struct {
	requests                   float64
	machine, own, agent, bpf   float64
	bpfRuns, background, loadA float64
	kernel                     string // the agent's attach time and kernel_http1 counts, when traced
}

// measure runs work between two snapshots of the machine's and the
// processes' CPU; work returns the request count and the client's CPU
// (when it runs in another process; 0 when it runs in this one).
func measure(server int, a *agent, work func() (float64, float64)) costSample {
	self := os.Getpid()
	agentPID := 0
	if a != nil {
		agentPID = a.cmd.Process.Pid
	}
	m0, s0, g0, w0 := machineBusyNs(), procCPUNs(server), procCPUNs(agentPID), procCPUNs(self)
	n, clientNs := work()
	m1, s1, g1, w1 := machineBusyNs(), procCPUNs(server), procCPUNs(agentPID), procCPUNs(self)
	s := costSample{requests: n, machine: m1 - m0, agent: g1 - g0, loadA: loadAvg()}
	s.own = (s1 - s0) + (w1 - w0) + clientNs + s.agent
	s.background = s.machine - s.own
	if a != nil {
		st := a.stop()
		s.bpf, s.bpfRuns = float64(st.BPFRunNs), float64(st.BPFRunCount)
		s.kernel = fmt.Sprintf("  attach %v", time.Duration(st.AttachNs).Round(time.Millisecond))
		if k := st.KernelHTTP1; k != nil {
			s.kernel += fmt.Sprintf("  kernel http1 %d, fallbacks %v", k.Summaries, k.Fallbacks)
		}
	}
	return s
}

// costRun sends n requests at rate req/s to nginx in mode m and measures
// their CPU.
func costRun(ng *nginx, m costMode, rate, n int) costSample {
	var a *agent
	if m.traced {
		bin := *agentBin
		if m.bin != "" {
			bin = m.bin
		}
		tc := api.TraceConfig{PIDs: []uint32{ng.worker}, EmitEvents: m.json, DurationNs: int64(10 * time.Minute)}
		if m.slow {
			tc.Samples = &api.SampleConfig{SlowNs: int64(100 * time.Microsecond), Errors: true}
		}
		var env []string
		if m.env != "" {
			env = append(env, m.env)
		}
		a = startAgent(bin, tc, env...)
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", ng.addr) }
	if m.tls {
		dial = func() (net.Conn, error) {
			return tls.Dial("tcp", ng.tlsAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a local benchmark server with a throwaway certificate
		}
	}
	return measure(int(ng.worker), a, func() (float64, float64) {
		done, _ := load(dial, rate, 0, int64(n))
		return float64(done), 0
	})
}

// costRows holds the samples of every mode by round.
type costRows map[string][]costSample

// printCost prints the cost-per-request table: each traced run minus the
// untraced run of its round over the same transport, per request.
func printCost(title string, modes []costMode, rows costRows, baseOf func(costMode) string) {
	fmt.Printf("%s\n\n", title)
	fmt.Printf("| mode | extra machine CPU µs/req min | median | max | of which agent (median) | of which BPF (median) | BPF runs/req | workload processes' extra µs/req (median) | target µs |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range modes {
		if !m.traced {
			continue
		}
		base := rows[baseOf(m)]
		var extra, own, agent, bpf, runs []float64
		for i, s := range rows[m.name] {
			if i >= len(base) || s.requests == 0 || base[i].requests == 0 {
				continue
			}
			b := base[i]
			extra = append(extra, (s.machine/s.requests-b.machine/b.requests)/1e3)
			own = append(own, (s.own/s.requests-b.own/b.requests)/1e3)
			agent = append(agent, s.agent/s.requests/1e3)
			bpf = append(bpf, s.bpf/s.requests/1e3)
			runs = append(runs, s.bpfRuns/s.requests)
		}
		fmt.Printf("| %s | %.2f | **%.2f** | %.2f | %.2f | %.2f | %.1f | %.2f | %s |\n", m.name,
			minOf(extra), median(extra), maxOf(extra), median(agent), median(bpf), median(runs), median(own), m.target)
	}
	var bg, la []float64
	for _, ss := range rows {
		for _, s := range ss {
			if s.machine > 0 {
				bg = append(bg, 100*s.background/s.machine)
			}
			la = append(la, s.loadA)
		}
	}
	fmt.Printf("\nLoad: the machine's CPU outside the workload's processes was %.0f%% of its busy time (median; min %.0f%%, max %.0f%%); 1-minute load average %.1f-%.1f.\n\n",
		median(bg), minOf(bg), maxOf(bg), minOf(la), maxOf(la))
}

// costTable runs the fixed-count HTTP cost modes for rounds interleaved
// rounds and prints the table.
func costTable(ng *nginx, rounds, rate, n int) {
	modes := costModes
	if *before != "" {
		modes = append(modes, costMode{name: "aggregated, before", traced: true, bin: *before},
			costMode{name: "-o json, before", traced: true, json: true, bin: *before})
	}
	if *costModesFlag != "" {
		var picked []costMode
		for _, m := range modes {
			if !m.traced || strings.Contains("|"+*costModesFlag+"|", "|"+m.name+"|") {
				picked = append(picked, m)
			}
		}
		modes = picked
	}
	rows := costRows{}
	for r := 0; r < rounds; r++ {
		order := append(modes[r%len(modes):], modes[:r%len(modes)]...)
		for _, m := range order {
			s := costRun(ng, m, rate, n)
			rows[m.name] = append(rows[m.name], s)
			fmt.Fprintf(os.Stderr, "cost round %d %-32s %6.0f req  machine %5.1f µs/req  agent %4.1f  bpf %4.1f%s\n",
				r+1, m.name, s.requests, s.machine/max(s.requests, 1)/1e3, s.agent/max(s.requests, 1)/1e3, s.bpf/max(s.requests, 1)/1e3, s.kernel)
		}
	}
	title := fmt.Sprintf("### cost per request: %d requests at %d req/s (open-loop Go client, 32 keep-alive connections), %d interleaved rounds", n, rate, rounds)
	printCost(title, modes, rows, func(m costMode) string {
		if m.tls {
			return "untraced, HTTPS"
		}
		return "untraced"
	})
}
