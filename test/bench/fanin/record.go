//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// A recording is what one real agent wrote, with when each record came;
// every simulated node replays it at that pace.
type recLine struct {
	at   time.Duration
	line []byte
}

type replayable struct {
	name  string
	probe string // trace, profile
	lines []recLine
	json  bool // recorded with -o json (every event)
}

// end is when the last record came: the agent's window.
func (r *replayable) end() time.Duration { return r.lines[len(r.lines)-1].at }

// records counts what a node streams, its hello included.
func (r *replayable) records() int { return len(r.lines) }

// events counts a node's request records.
func (r *replayable) events() int {
	n := 0
	for _, l := range r.lines {
		if bytes.Contains(l.line, eventTable) {
			n++
		}
	}
	return n
}

// recordAll records the runs the simulated nodes replay, unless the files
// are there already: the agent's own output on this host, hello first.
func recordAll(dir string) ([]*replayable, error) {
	specs := []struct {
		name, probe string
		json        bool
		run         func(file string) error
	}{
		{"trace", "trace", false, func(f string) error { return recordTrace(f, false) }},
		{"trace-json", "trace", true, func(f string) error { return recordTrace(f, true) }},
		{"profile", "profile", false, recordProfile},
	}
	var out []*replayable
	for _, s := range specs {
		if !wanted(s.name) {
			continue
		}
		file := filepath.Join(dir, s.name+".pxr")
		if _, err := os.Stat(file); err != nil {
			fmt.Fprintf(os.Stderr, "fanin: recording %s (%s of real load) to %s\n", s.name, *recordFor, file)
			if err := s.run(file); err != nil {
				return nil, fmt.Errorf("recording %s: %w", s.name, err)
			}
		}
		r, err := load(file, s.name, s.probe)
		if err != nil {
			return nil, err
		}
		r.json = s.json
		out = append(out, r)
	}
	return out, nil
}

func load(file, name, probe string) (*replayable, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := recording.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	r := &replayable{name: name, probe: probe}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r.lines = append(r.lines, recLine{at: rec.At, line: append(append([]byte(nil), rec.Line...), '\n')}) // Line is the reader's buffer
	}
	if len(r.lines) < 3 {
		return nil, fmt.Errorf("%s: only %d records: delete it to record again", file, len(r.lines))
	}
	if api.IsHello(r.lines[0].line) {
		// the agent of this build says hello: the version the plugin expects
		hello, err := exec.Command(*agentBin, "version").Output()
		if err != nil {
			return nil, fmt.Errorf("%s version: %w", *agentBin, err)
		}
		first, _, _ := strings.Cut(string(hello), "\n")
		r.lines[0].line = []byte(first + "\n")
	}
	return r, nil
}

// recordTrace traces an HTTP server of this command's own (a process
// name no other test traces) under load: flat out for the aggregated view,
// a fixed rate for -o json (one record per request).
func recordTrace(file string, json bool) error {
	srv, addr, err := startSelf("-serve")
	if err != nil {
		return err
	}
	defer stopSelf(srv)
	args := []string{"trace", "--local", "--pid", strconv.Itoa(srv.Process.Pid), "--duration", recordFor.String()}
	if json {
		args = append(args, "-o", "json")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(time.Second) // attached
		if json {
			paced(ctx, "http://"+addr+"/", *jsonRate)
			return
		}
		flatOut(ctx, "http://"+addr+"/", 8)
	}()
	err = recordAgent(file, args)
	cancel()
	wg.Wait()
	return err
}

// recordProfile profiles a busy loop of this command's own.
func recordProfile(file string) error {
	spin, _, err := startSelf("-spin")
	if err != nil {
		return err
	}
	defer stopSelf(spin)
	return recordAgent(file, []string{"profile", "--local", "--pid", strconv.Itoa(spin.Process.Pid), "--duration", recordFor.String()})
}

// recordAgent runs the agent command the plugin would run for args (its
// --dry-run says which) and records its output as it comes.
func recordAgent(file string, args []string) error {
	plan, err := exec.Command(*pluginBin, append(args, "--dry-run")...).Output()
	if err != nil {
		return fmt.Errorf("%s %s --dry-run: %w", *pluginBin, strings.Join(args, " "), err)
	}
	var argv []string
	for _, l := range strings.Split(string(plan), "\n") {
		if strings.HasPrefix(l, "'") {
			argv = strings.Split(strings.Trim(l, "'"), "' '")
		}
	}
	if len(argv) < 2 {
		return fmt.Errorf("no agent command in %q", plan)
	}
	w, err := recording.Create(file, recording.Header{Command: args[0], Args: argv[1:], Output: "agent"}, nil)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return err
	}
	rd := ndjson.NewReader(out)
	for {
		line, err := rd.ReadLine()
		if len(line) > 0 {
			w.Record("", line)
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, errOut.String())
	}
	return w.Close()
}

// paced sends GETs at rate per second until ctx ends.
func paced(ctx context.Context, url string, rate int) {
	c := &http.Client{Timeout: 5 * time.Second}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if resp, err := c.Get(url); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// flatOut sends GETs on conns keep-alive connections as fast as they go.
func flatOut(ctx context.Context, url string, conns int) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if resp, err := c.Get(url); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
}

// startSelf runs this command in a helper mode (-serve prints its address).
func startSelf(mode string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stopSelf(cmd)
		return nil, "", fmt.Errorf("%s %s: %w", self, mode, err)
	}
	return cmd, strings.TrimSpace(addr), nil
}

func stopSelf(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// helperMode runs -serve or -spin and reports whether it did.
func helperMode() bool {
	switch {
	case *serveMode:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr())
		body := []byte("hello from the fanin benchmark\n")
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
		return true
	case *spinMode:
		fmt.Println("spinning")
		for x := 0; ; x++ {
			if x < 0 {
				return true
			}
		}
	}
	return false
}
