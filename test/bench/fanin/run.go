//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// result is one run of the plugin against n simulated nodes.
type result struct {
	rec   string
	nodes int
	json  bool

	wall       time.Duration
	cpu        time.Duration // the plugin's user+system
	peakRSS    int64         // bytes
	allStarted time.Duration // command start to the last probe pod started
	firstAll   time.Duration // last probe started to a frame with every node merged (-1: never)
	finalAfter time.Duration // the last node's window end to the final summary (the last output)
	exitAfter  time.Duration // and to the plugin's exit (its pods deleted)
	lag        time.Duration // worst lateness of a node's final record
	dropped    int
	records    int // records the nodes streamed in all
	started    int // probe pods started
	apiCPU     time.Duration
	exitErr    string
	left       int // probe pods the plugin did not delete
}

// runPlugin runs the real plugin binary against the simulated nodes: on a
// pseudo-terminal for the live view (frames every second, as a user sees
// them), piped for -o json.
func runPlugin(c *cluster, k *kubelet, rec *replayable, n int) (*result, error) {
	k.reset(rec)
	args := []string{rec.probe, "-n", webNamespace, "-l", "app=web", "--yes", "--kubeconfig", c.kubeconfig,
		"--duration", rec.end().Round(time.Second).String(), "--image", "registry.invalid/kubectl-pixie/probe:bench"}
	if rec.json {
		args = append(args, "-o", "json")
	}
	cmd := exec.Command(*pluginBin, args...)
	cmd.Env = append(os.Environ(), "COLUMNS=200", "LINES=60")
	var out io.Reader
	var closeTTY func()
	var jsonOut *os.File
	if rec.json {
		// a file, not a pipe: the simulator must not be the slow reader
		f, err := os.CreateTemp("", "fanin-json-*.ndjson")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		jsonOut, cmd.Stdout, cmd.Stderr = f, f, os.Stderr
		out = strings.NewReader("")
	} else {
		master, slave, err := openPTY(60, 200)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr, cmd.Stdin = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		out = master
		closeTTY = func() { slave.Close() }
		defer master.Close()
	}
	api0 := c.apiserverCPU()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if closeTTY != nil {
		closeTTY() // the child holds it
	}
	seen := watchOutput(out, []byte(fmt.Sprintf("nodes %d/%d", n, n)))
	err := cmd.Wait()
	exit := time.Now()
	firstAll, lastOut, tail := seen()
	events := -1
	if jsonOut != nil {
		if st, err := jsonOut.Stat(); err == nil {
			lastOut = st.ModTime() // the last write: the summaries
		}
		events = countEvents(jsonOut.Name())
	}
	r := &result{rec: rec.name, nodes: n, json: rec.json, wall: exit.Sub(t0), apiCPU: c.apiserverCPU() - api0}
	if err != nil {
		r.exitErr = err.Error() + ": " + tail
	}
	if d := os.Getenv("FANIN_DUMP"); d != "" {
		_ = os.WriteFile(d, []byte(tail), 0o644)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.peakRSS = ru.Maxrss * 1024
	}
	last, started := k.lastStart()
	r.started, r.allStarted = started, last.Sub(t0)
	r.firstAll = -1
	if !firstAll.IsZero() {
		r.firstAll = firstAll.Sub(last)
	}
	r.finalAfter = lastOut.Sub(last.Add(rec.end()))
	r.exitAfter = exit.Sub(last.Add(rec.end()))
	k.mu.Lock()
	r.lag = k.lag
	k.mu.Unlock()
	r.dropped = k.dropped()
	r.records = started * rec.records()
	if events >= 0 {
		// -o json shows what the plugin got: every event should be there
		r.dropped = max(r.dropped, started*rec.events()-events)
	}
	return r, nil
}

// watchOutput reads the plugin's output to its end in the background;
// the returned function waits for that and says when want first appeared.
// -o json output is counted, not kept.
func watchOutput(r io.Reader, want []byte) func() (when, lastAt time.Time, tail string) {
	var (
		mu     sync.Mutex
		seen   time.Time
		lastAt time.Time // of the last output: the final frame and summaries
		last   []byte    // the end of the output, for errors
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		br := bufio.NewReaderSize(r, 1<<20)
		var tail []byte
		buf := make([]byte, 64<<10)
		for {
			m, err := br.Read(buf)
			if m > 0 {
				mu.Lock()
				lastAt = time.Now()
				last = append(last, buf[:m]...)
				if len(last) > 4096 {
					last = append(last[:0], last[len(last)-2048:]...)
				}
				mu.Unlock()
			}
			if m > 0 && seen.IsZero() {
				tail = append(tail, buf[:m]...)
				if bytes.Contains(tail, want) {
					mu.Lock()
					seen = time.Now()
					mu.Unlock()
				}
				if len(tail) > len(want) {
					tail = append(tail[:0], tail[len(tail)-len(want):]...)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return func() (time.Time, time.Time, string) {
		select {
		case <-done:
		case <-time.After(5 * time.Second): // a pty may not report EOF
		}
		mu.Lock()
		defer mu.Unlock()
		return seen, lastAt, string(last)
	}
}

// openPTY opens a pseudo-terminal pair of the given size.
func openPTY(rows, cols uint16) (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// leftBehind says how many probe pods the plugin left undeleted (it should
// leave none) and removes every probe pod before the next run.
func leftBehind(ctx context.Context, c *cluster) (int, error) {
	l, err := c.client.CoreV1().Pods(probeNamespace).List(ctx, listAll)
	if err != nil || len(l.Items) == 0 {
		return 0, err
	}
	left := 0
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil { // else the plugin deleted it
			left++
		}
	}
	err = c.client.CoreV1().Pods(probeNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, listAll)
	if err == nil {
		err = waitFor(60*time.Second, "the probe pods left behind to go", func() bool {
			l, err := c.client.CoreV1().Pods(probeNamespace).List(ctx, listAll)
			return err == nil && len(l.Items) == 0
		})
	}
	return left, err
}

// eventTable is the record -o json passes one of per request.
var eventTable = []byte(`"table":"http_events"`)

// countEvents counts the request records in a -o json output.
func countEvents(file string) int {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), eventTable) {
			n++
		}
	}
	return n
}
