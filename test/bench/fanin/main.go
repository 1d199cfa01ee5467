//go:build linux

// Command fanin is `make bench-fanin`: what the plugin costs as the node
// count grows. A real kube-apiserver and etcd (ports of their own) hold
// 50, 200, 500 simulated nodes; the one simulated kubelet (kubelet.go)
// answers every probe pod's log stream through the API server by replaying
// what a real agent wrote under load (recorded on this host first:
// trace of wrk -> nginx, trace -o json at a fixed rate, profile of a busy
// loop) at the pace it wrote it. The real plugin binary runs against them
// and is measured from outside: CPU, peak RSS, time to a frame merging
// every node, time to its exit after the window, records dropped, and the
// API server's CPU. Root (the recordings attach probes); Markdown on
// stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	pluginBin    = flag.String("plugin", "bin/kubectl-pixie", "the plugin binary measured")
	agentBin     = flag.String("agent", "bin/pixie-agent", "the agent binary (records the load; says the hello)")
	apiserverBin = flag.String("apiserver", "bench-results/fanin/bin/kube-apiserver", "kube-apiserver binary")
	etcdBin      = flag.String("etcd", "/usr/bin/etcd", "etcd binary")
	mkpkiBin     = flag.String("mkpki", "bench-results/fanin/bin/mkpki", "the e2e cluster's mkpki (test/e2e/cluster/tools)")
	dir          = flag.String("dir", "bench-results/fanin", "recordings (kept) and the control plane's state (removed)")
	sizes        = flag.String("sizes", "50,200,500", "node counts of the aggregated views")
	jsonSizes    = flag.String("json-sizes", "50,100,200,350,500", "node counts of -o json (every event), to find where drops begin")
	recordFor    = flag.Duration("record", 20*time.Second, "length of the recorded runs (the window replayed)")
	jsonRate     = flag.Int("json-rate", 200, "requests per second per node in the -o json recording")
	only         = flag.String("only", "trace,trace-json,profile", "recordings to replay")
	recordOnly   = flag.Bool("record-only", false, "make the recordings and stop (the part to run under the probes' lock)")
	check        = flag.Bool("check", false, "the quick guard of make bench-check: the aggregated trace view on 100 nodes from a 10 s recording; fails when a limit of check.go is missed")
	serveMode    = flag.Bool("serve", false, "(internal) the HTTP server the trace recordings trace")
	spinMode     = flag.Bool("spin", false, "(internal) the busy loop the profile recording profiles")
)

var listAll = metav1.ListOptions{}

func main() {
	flag.Parse()
	if helperMode() {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fanin:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the recordings attach the real probes (sudo make bench-fanin)")
	}
	if *check {
		checkDefaults()
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	recs, err := recordAll(*dir)
	if err != nil || *recordOnly {
		return err
	}
	aggSizes, err := parseSizes(*sizes)
	if err != nil {
		return err
	}
	jSizes, err := parseSizes(*jsonSizes)
	if err != nil {
		return err
	}
	most := max(aggSizes[len(aggSizes)-1], jSizes[len(jSizes)-1])
	c, err := startCluster(filepath.Join(*dir, "cluster"))
	if err != nil {
		return err
	}
	defer c.stop()
	k, err := startKubelet(filepath.Join(c.dir, "pki"))
	if err != nil {
		return err
	}
	defer k.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ensureNamespaces(ctx, c.client); err != nil {
		return err
	}
	if err := registerNodes(ctx, c.client, most); err != nil {
		return fmt.Errorf("registering %d nodes: %w", most, err)
	}
	runProbePods(ctx, c.client, k)
	var results []*result
	for _, rec := range recs {
		if !wanted(rec.name) {
			continue
		}
		ns := aggSizes
		if rec.json {
			ns = jSizes
		}
		for _, n := range ns {
			if err := placeTargets(ctx, c.client, n, most); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "fanin: %s on %d nodes ...\n", rec.name, n)
			r, err := runPlugin(c, k, rec, n)
			if err != nil {
				return err
			}
			if r.left, err = leftBehind(ctx, c); err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "fanin:", r.line())
			results = append(results, r)
		}
	}
	printMarkdown(recs, results)
	if *check {
		return checkResults(results)
	}
	return nil
}

// wanted says whether -only names the recording.
func wanted(name string) bool { return strings.Contains(","+*only+",", ","+name+",") }

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("bad node count %q: use 1 to 1000", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("node counts must grow: %s", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (r *result) line() string {
	return fmt.Sprintf("%s n=%d cpu/s=%.2f rss=%dMiB started=%s firstAll=%s finalAfter=%s exitAfter=%s lag=%s dropped=%d/%d api-cpu/s=%.2f left=%d err=%q",
		r.rec, r.nodes, r.cpuPerSec(), r.peakRSS>>20, r.allStarted.Round(10*time.Millisecond), r.firstAll.Round(10*time.Millisecond),
		r.finalAfter.Round(10*time.Millisecond), r.exitAfter.Round(10*time.Millisecond), r.lag.Round(10*time.Millisecond), r.dropped, r.records, r.apiPerSec(), r.left, r.exitErr)
}

func (r *result) cpuPerSec() float64 { return r.cpu.Seconds() / r.wall.Seconds() }
func (r *result) apiPerSec() float64 { return r.apiCPU.Seconds() / r.wall.Seconds() }

func printMarkdown(recs []*replayable, results []*result) {
	fmt.Println("| recording | nodes | plugin CPU (cores) | peak RSS | last probe started | → frame with all nodes | window end → final summary | → exit (pods deleted) | worst stream lag | dropped | pods left | API server CPU (cores) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		first := "n/a"
		if r.firstAll >= 0 {
			first = fmt.Sprintf("%.1f s", r.firstAll.Seconds())
		}
		fmt.Printf("| %s | %d | %.2f | %d MiB | %.1f s | %s | %.1f s | %.1f s | %.1f s | %d of %d | %d | %.2f |\n",
			r.rec, r.nodes, r.cpuPerSec(), r.peakRSS>>20, r.allStarted.Seconds(), first, r.finalAfter.Seconds(), r.exitAfter.Seconds(), r.lag.Seconds(), r.dropped, r.records, r.left, r.apiPerSec())
	}
	fmt.Println()
	for _, rec := range recs {
		fmt.Printf("- %s: %d records in %s per node (%.0f records/s)\n", rec.name, rec.records(), rec.end().Round(time.Second), float64(rec.records())/rec.end().Seconds())
	}
}
