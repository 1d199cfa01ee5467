//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// redisTable prints the cost per request of tracing Redis (GET and SET
// from redis-benchmark, n of each per run, closed loop), untraced and
// traced runs interleaved for rounds rounds.
func redisTable(rounds, n int) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	srv := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := srv.Start(); err != nil {
		fatal("starting redis-server: " + err.Error())
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	modes := []costMode{{name: "Redis untraced"}, {name: "Redis aggregated", traced: true, target: "2.5"}}
	rows := costRows{}
	for r := 0; r < rounds; r++ {
		order := append(modes[r%2:], modes[:r%2]...)
		for _, m := range order {
			var a *agent
			if m.traced {
				a = startAgent(*agentBin, api.TraceConfig{PIDs: []uint32{uint32(srv.Process.Pid)}, DurationNs: int64(10 * time.Minute)})
			}
			s := measure(srv.Process.Pid, a, func() (float64, float64) { return redisBenchmark(port, n) })
			rows[m.name] = append(rows[m.name], s)
			fmt.Fprintf(os.Stderr, "redis round %d %-18s %6.0f req  machine %5.1f µs/req  agent %4.1f  bpf %4.1f\n",
				r+1, m.name, s.requests, s.machine/max(s.requests, 1)/1e3, s.agent/max(s.requests, 1)/1e3, s.bpf/max(s.requests, 1)/1e3)
		}
	}
	title := fmt.Sprintf("### cost per request, Redis: redis-benchmark -c 20 -t get,set -n %d (closed loop), %d interleaved rounds", n, rounds)
	printCost(title, modes, rows, func(costMode) string { return "Redis untraced" })
}

// redisBenchmark runs n GETs and n SETs and returns the request count and
// redis-benchmark's CPU time.
func redisBenchmark(port string, n int) (float64, float64) {
	cmd := exec.Command("redis-benchmark", "-p", port, "-c", "20", "-t", "get,set", "-n", strconv.Itoa(n), "-q")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "GET") {
		fatal(fmt.Sprintf("redis-benchmark: %v %s", err, out))
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return float64(2 * n), float64(cpu.Nanoseconds())
}
