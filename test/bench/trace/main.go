//go:build linux

// Command trace is `make bench-trace`: wrk -> nginx on loopback, interleaved
// runs with nothing attached, with `kubectl pixie trace` attached and with an
// equivalent bpftrace script, several rounds; then a fixed-rate load at
// several offered rates to find the zero-loss ceiling. It prints Markdown
// for docs/benchmarks.md. Run as root: `make bench-trace`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

var (
	agentBin      = flag.String("agent", "bin/pixie-agent", "the probe agent binary (what runs in probe pods)")
	rounds        = flag.Int("rounds", 5, "interleaved rounds")
	runFor        = flag.Duration("run", 5*time.Second, "wrk duration per run")
	conns         = flag.Int("c", 20, "wrk connections")
	rates         = flag.String("rates", "5000,10000,20000,30000,40000", "offered rates (req/s) for the loss test")
	rateFor       = flag.Duration("rate-run", 3*time.Second, "duration of each fixed-rate run")
	btScript      = flag.String("bt", "test/bench/trace/l7.bt", "bpftrace script")
	costRate      = flag.Int("cost-rate", 10000, "offered rate (req/s) of the cost-per-request runs")
	costN         = flag.Int("cost-n", 50000, "requests per cost-per-request run")
	redisN        = flag.Int("redis-n", 100000, "redis-benchmark requests per command (GET and SET) per run")
	profile       = flag.String("profile", "", "write the agent's CPU profile (aggregated mode, one more wrk run) to this file")
	check         = flag.Bool("check", false, "make bench-check: a quick pass/fail run against the targets (check.go)")
	before        = flag.String("before", "", "another agent binary (an older build) measured side by side in the cost table")
	costModesFlag = flag.String("cost-modes", "", "traced modes of the cost table to run, by name, separated by | (untraced ones always run); empty: all")
	only          = flag.String("only", "throughput,profile,cost,redis,loss", "the sections to run")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("run as root (eBPF)")
	}
	ng := startNginx()
	defer ng.stop()
	if *check {
		code := runCheck(ng)
		ng.stop()
		os.Exit(code)
	}
	url := "http://" + ng.addr + "/index.html"
	on := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		on[strings.TrimSpace(s)] = true
	}
	if on["throughput"] {
		throughputTable(ng, url)
	}
	if on["profile"] && *profile != "" {
		a := startAgent(*agentBin, api.TraceConfig{PIDs: []uint32{ng.worker}, DurationNs: int64(10 * time.Minute)}, "PIXIE_AGENT_CPUPROFILE="+*profile)
		rps := wrk(url)
		st := a.stop()
		fmt.Printf("Agent CPU profile (aggregated mode, %.0f req/s, %d records, %.1f µs of agent CPU per record): %s\n\n",
			rps, st.Records, float64(st.UserCPUNs)/max(float64(st.Records), 1)/1e3, *profile)
	}
	if on["cost"] {
		costTable(ng, *rounds, *costRate, *costN)
	}
	if on["redis"] {
		redisTable(*rounds, *redisN)
	}
	if on["loss"] {
		lossTable(ng)
	}
}

// throughputTable runs wrk at saturation, untraced, traced (aggregated and
// -o json) and under bpftrace, in rotating order, and prints the table.
func throughputTable(ng *nginx, url string) {
	type sample struct{ rps, bpfNs, userNsPerReq float64 }
	results := map[string][]sample{}
	var attach []float64
	var peakRSS []float64
	modes := []string{"baseline", "pixie", "pixie -o json", "bpftrace"}
	for r := 0; r < *rounds; r++ {
		order := append(modes[r%len(modes):], modes[:r%len(modes)]...) // rotate so no mode always runs first
		for _, m := range order {
			var s sample
			switch m {
			case "baseline":
				s.rps = wrk(url)
			case "pixie", "pixie -o json":
				a := startAgent(*agentBin, api.TraceConfig{PIDs: []uint32{ng.worker}, EmitEvents: m != "pixie", DurationNs: int64(10 * time.Minute)})
				s.rps = wrk(url)
				st := a.stop()
				if st.BPFRunCount > 0 {
					s.bpfNs = float64(st.BPFRunNs) / float64(st.BPFRunCount)
				}
				if st.Records > 0 {
					s.userNsPerReq = float64(st.UserCPUNs) / float64(st.Records)
				}
				attach = append(attach, float64(st.AttachNs)/1e6)
				peakRSS = append(peakRSS, float64(st.PeakRSSBytes)/(1<<20))
			case "bpftrace":
				bt := startBpftrace(ng.worker)
				s.rps = wrk(url)
				s.bpfNs = bt.stop()
			}
			results[m] = append(results[m], s)
			fmt.Fprintf(os.Stderr, "round %d %-8s %8.0f req/s  bpf %6.0f ns/run\n", r+1, m, s.rps, s.bpfNs)
		}
	}

	fmt.Printf("## trace: wrk -> nginx (loopback, 1 worker), %d rounds of %s, -t1 -c%d\n\n", *rounds, *runFor, *conns)
	fmt.Printf("| mode | req/s min | median | max | ratio to baseline (median) | BPF ns per program run (median) |\n|---|---|---|---|---|---|\n")
	base := median(pick(results["baseline"], func(s sample) float64 { return s.rps }))
	for _, m := range modes {
		rps := pick(results[m], func(s sample) float64 { return s.rps })
		bpf := pick(results[m], func(s sample) float64 { return s.bpfNs })
		bpfCol := "-"
		if m != "baseline" {
			bpfCol = fmt.Sprintf("%.0f (min %.0f, max %.0f)", median(bpf), minOf(bpf), maxOf(bpf))
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.3f | %s |\n", m, minOf(rps), median(rps), maxOf(rps), median(rps)/base, bpfCol)
	}
	ours := median(pick(results["pixie"], func(s sample) float64 { return s.bpfNs }))
	theirs := median(pick(results["bpftrace"], func(s sample) float64 { return s.bpfNs }))
	user := pick(results["pixie"], func(s sample) float64 { return s.userNsPerReq })
	if theirs > 0 {
		fmt.Printf("\nBPF cost per program run, ours / bpftrace: **%.2fx** (median of medians).\n", ours/theirs)
	}
	fmt.Printf("Agent user-space CPU per request: min %.1f µs, median %.1f µs, max %.1f µs.\n", minOf(user)/1e3, median(user)/1e3, maxOf(user)/1e3)
	fmt.Printf("Agent peak RSS: min %.1f MiB, median %.1f MiB, max %.1f MiB.\n", minOf(peakRSS), median(peakRSS), maxOf(peakRSS))
	fmt.Printf("Time from agent start to probes attached: min %.0f ms, median %.0f ms, max %.0f ms.\n\n", minOf(attach), median(attach), maxOf(attach))

}

// lossTable traces fixed offered rates and compares the records with the
// client's count.
func lossTable(ng *nginx) {
	fmt.Printf("### loss at fixed offered rates (open-loop Go client, 32 keep-alive connections, %s per rate)\n\n", *rateFor)
	fmt.Printf("| offered req/s | achieved req/s | client requests | traced server-side | lost events | lost (reasons) | loss %% |\n|---|---|---|---|---|---|---|\n")
	for _, f := range strings.Split(*rates, ",") {
		rate, _ := strconv.Atoi(f)
		a := startAgent(*agentBin, api.TraceConfig{PIDs: []uint32{ng.worker}, DurationNs: int64(10 * time.Minute)})
		done, achieved := load(func() (net.Conn, error) { return net.Dial("tcp", ng.addr) }, rate, *rateFor, 0)
		st := a.stop()
		loss := 0.0
		if done > 0 {
			loss = 100 * (float64(done) - float64(st.Records)) / float64(done)
		}
		fmt.Printf("| %d | %.0f | %d | %d | %d | %v | %.2f |\n", rate, achieved, done, st.Records, st.EventsLost, st.LostBy, loss)
	}
}

// --- nginx ---

type nginx struct {
	cmd           *exec.Cmd
	dir           string
	addr, tlsAddr string // HTTP and HTTPS
	worker        uint32
}

func startNginx() *nginx {
	dir, _ := os.MkdirTemp("", "pixie-bench-nginx")
	for _, d := range []string{"html", "logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "html", "index.html"), []byte("hello from nginx\n"), 0o644)
	addr, tlsAddr := freeAddr(), freeAddr()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-days", "1", "-subj", "/CN=bench", "-keyout", key, "-out", crt).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("openssl: %v %s", err, out))
	}
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  server { listen %[2]s; root %[1]s/html; keepalive_requests 1000000; }
  server { listen %[3]s ssl; root %[1]s/html; keepalive_requests 1000000;
    ssl_certificate %[4]s; ssl_certificate_key %[5]s; }
}
`, dir, addr, tlsAddr, crt, key)
	cf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(cf, []byte(conf), 0o644)
	cmd := exec.Command("nginx", "-c", cf, "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fatal("starting nginx: " + err.Error())
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	w, err := strconv.ParseUint(strings.Fields(string(b))[0], 10, 32)
	if err != nil {
		fatal("no nginx worker")
	}
	return &nginx{cmd: cmd, dir: dir, addr: addr, tlsAddr: tlsAddr, worker: uint32(w)}
}

// freeAddr is a loopback address no one listens on now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err.Error())
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (n *nginx) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	_ = n.cmd.Wait()
	os.RemoveAll(n.dir)
}

var rpsRe = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)

func wrk(url string) float64 {
	out, err := exec.Command("wrk", "-t1", fmt.Sprintf("-c%d", *conns), "-d"+runFor.String(), url).CombinedOutput()
	if err != nil {
		fatal(fmt.Sprintf("wrk: %v %s", err, out))
	}
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		fatal("wrk printed " + string(out))
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// --- our agent ---

type agent struct {
	cmd   *exec.Cmd
	stats api.ProbeStats
	done  chan struct{}
}

// startAgent starts the agent bin with tc and extra environment variables and
// waits until its probes are attached.
func startAgent(bin string, tc api.TraceConfig, env ...string) *agent {
	cfg, _ := json.Marshal(tc)
	a := &agent{cmd: exec.Command(bin, "trace", "--config", string(cfg)), done: make(chan struct{})}
	a.cmd.Env = append(os.Environ(), env...)
	a.cmd.Stderr = os.Stderr
	out, _ := a.cmd.StdoutPipe()
	if err := a.cmd.Start(); err != nil {
		fatal("starting agent: " + err.Error())
	}
	ready := make(chan struct{})
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.Contains(line, []byte(`"table":"probe_ready"`)):
				once.Do(func() { close(ready) })
			case bytes.Contains(line, []byte(`"table":"probe_stats"`)):
				var s api.ProbeStats
				if json.Unmarshal(line, &s) == nil && s.Final {
					a.stats = s
				}
			case bytes.Contains(line, []byte(`"table":"probe_log"`)):
				fmt.Fprintf(os.Stderr, "agent: %s\n", line)
			}
		}
	}()
	select {
	case <-ready:
	case <-a.done:
		fatal("agent exited before attaching")
	case <-time.After(30 * time.Second):
		fatal("agent did not attach in 30s")
	}
	return a
}

func (a *agent) stop() api.ProbeStats {
	_ = a.cmd.Process.Signal(syscall.SIGINT)
	<-a.done
	_ = a.cmd.Wait()
	return a.stats
}

// --- bpftrace ---

type bpftrace struct {
	cmd    *exec.Cmd
	before map[int]bool // programs loaded before bpftrace started
}

func startBpftrace(pid uint32) *bpftrace {
	before := map[int]bool{}
	for _, p := range programs() {
		before[p.ID] = true
	}
	// Stats on for the bpftrace run only (our agent turns them on itself).
	os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("1"), 0o644)
	cmd := exec.Command("bpftrace", *btScript, strconv.Itoa(int(pid)))
	cmd.Env = append(os.Environ(), "BPFTRACE_STRLEN=200")
	cmd.Stdout = nil // /dev/null
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		fatal("starting bpftrace: " + err.Error())
	}
	// bpftrace has no ready signal on a pipe: wait until its programs
	// (those that were not loaded before it started) show up.
	b := &bpftrace{cmd: cmd, before: before}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(b.programs()) < 10 {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	return b
}

func (b *bpftrace) programs() []progInfo {
	var mine []progInfo
	for _, p := range programs() {
		if !b.before[p.ID] {
			mine = append(mine, p)
		}
	}
	return mine
}

type progInfo struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	RunTimeNs uint64 `json:"run_time_ns"`
	RunCnt    uint64 `json:"run_cnt"`
}

func programs() []progInfo {
	out, err := exec.Command("bpftool", "prog", "show", "--json").Output()
	if err != nil {
		return nil
	}
	var ps []progInfo
	_ = json.Unmarshal(out, &ps)
	return ps
}

// stop returns bpftrace's BPF ns per program run, read before it exits.
func (b *bpftrace) stop() float64 {
	var ns, cnt uint64
	for _, p := range b.programs() {
		ns += p.RunTimeNs
		cnt += p.RunCnt
	}
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	_ = b.cmd.Wait()
	os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("0"), 0o644)
	if cnt == 0 {
		return 0
	}
	return float64(ns) / float64(cnt)
}

// --- fixed-rate client ---

// load sends GETs at rate req/s over 32 keep-alive connections from dial
// for d, or until limit requests were sent when d is 0 (open loop: a slot
// that cannot be sent in time is skipped, not queued), and returns how many
// completed and the achieved rate.
func load(dial func() (net.Conn, error), rate int, d time.Duration, limit int64) (int64, float64) {
	const nconn = 32
	var done, sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	if d > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), d)
	}
	defer cancel()
	per := time.Duration(float64(time.Second) * nconn / float64(rate))
	req := []byte("GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n")
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < nconn; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench-trace: client:", err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			next := time.Now()
			for ctx.Err() == nil && (limit == 0 || sent.Add(1) <= limit) {
				if _, err := c.Write(req); err != nil {
					return
				}
				if !readResponse(r) {
					return
				}
				done.Add(1)
				next = next.Add(per)
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				} else if -wait > per*4 {
					next = time.Now() // fell behind: drop the backlog (open loop)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	return done.Load(), float64(done.Load()) / el
}

func readResponse(r *bufio.Reader) bool {
	cl := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	_, err := r.Discard(cl)
	return err == nil
}

// --- numbers ---

func pick[T any](xs []T, f func(T) float64) []float64 {
	var out []float64
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "bench-trace:", msg)
	os.Exit(1)
}
