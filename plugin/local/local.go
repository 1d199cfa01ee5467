// Package local runs a probe on this host for --local: it starts the agent
// as a child process (this binary, `__agent PROBE --config JSON`) and hands
// its NDJSON stdout, line by line, to the same readers that consume probe
// pods' logs in a cluster.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// AgentArg is the hidden argument that makes the plugin binary run as the
// agent (see cmd/kubectl-pixie/agent_linux.go).
const AgentArg = "__agent"

// stopGrace is how long the agent gets to write its final records after
// it was asked to stop.
const stopGrace = 5 * time.Second

// Stopping is what the first stop signal of a --local run says.
var Stopping = fmt.Sprintf("stopping: asking the agent to flush its last records (up to %s), then it exits", stopGrace)

// Check returns an error with a remedy when --local cannot work here.
func Check() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("--local runs eBPF probes on this host and needs Linux (this is %s): target a cluster instead, e.g. `kubectl pixie trace deploy/NAME`", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("--local needs root to load eBPF programs: run it with sudo (sudo kubectl pixie ... --local)")
	}
	return nil
}

// CommandLine is the agent command Run would start for probe with config,
// quoted for a POSIX shell (for --dry-run).
func CommandLine(probe string, config any) (string, error) {
	bin, args, err := agentCommand()
	if err != nil {
		return "", err
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	words := append(append([]string{bin}, args...), probe, "--config", string(cfg))
	for i, w := range words {
		words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(words, " "), nil
}

// Run starts the agent for probe with config, calls onLine for each line it
// writes to stdout, and returns when the agent exits. Cancelling ctx asks
// the agent to stop (SIGINT) and still reads its final records. The agent
// runs in its own process group, so a terminal's signals reach only the
// plugin, which stops it; it also dies with the plugin (see deathSignal).
func Run(ctx context.Context, probe string, config any, stderr io.Writer, onLine func([]byte)) error {
	bin, args, err := agentCommand()
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append(args, probe, "--config", string(cfg))...)
	// Not the *os.File itself: the agent's messages are copied by the
	// plugin, so the agent, in a background process group, never writes
	// to the terminal itself.
	cmd.Stderr = struct{ io.Writer }{stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	unlock := childAttrs(cmd)
	defer unlock()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	done := make(chan struct{})
	go stopOnCancel(ctx, cmd, done)
	readErr := readLines(stdout, onLine)
	if readErr != nil {
		_ = cmd.Process.Kill() // its output is unusable; do not wait for the window
		_, _ = io.Copy(io.Discard, stdout)
	}
	err = cmd.Wait()
	close(done)
	if readErr != nil {
		return fmt.Errorf("reading the agent's output: %w", readErr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil && ee.ExitCode() == -1 {
			return nil // stopped by us
		}
		return &AgentExitError{Code: ee.ExitCode()}
	}
	return err
}

// stopOnCancel asks the agent to stop when ctx ends, and kills it if it
// has not exited stopGrace later.
func stopOnCancel(ctx context.Context, cmd *exec.Cmd, done <-chan struct{}) {
	select {
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(stopGrace):
			_ = cmd.Process.Kill()
		}
	case <-done:
	}
}

// readLines hands each line of r to onLine, without its newline.
func readLines(r io.Reader, onLine func([]byte)) error {
	nr := ndjson.NewReader(r)
	for {
		line, err := nr.ReadLine()
		// The hello is for a cluster's transport: here the agent is this build.
		if line = trimNewline(line); len(line) > 0 && !api.IsHello(line) {
			onLine(line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// EnvAgent names a pixie-agent binary to run instead of the default.
const EnvAgent = "PIXIE_AGENT"

// agentCommand picks the agent: $PIXIE_AGENT, else a pixie-agent next to
// this executable (`make build` puts one there), else
// this executable itself. The standalone agent is preferred because it
// starts without the Kubernetes client libraries: its peak RSS is about a
// third of the plugin's.
func agentCommand() (string, []string, error) {
	if p := os.Getenv(EnvAgent); p != "" {
		return p, nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("finding this executable to run the agent: %w", err)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	if p := filepath.Join(filepath.Dir(self), "pixie-agent"); isExecutable(p) {
		return p, nil, nil
	}
	return self, []string{AgentArg}, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// AgentExitError reports an agent that exited non-zero; its probe_log
// records carry the reason.
type AgentExitError struct{ Code int }

func (e *AgentExitError) Error() string {
	return fmt.Sprintf("the agent exited with status %d", e.Code)
}
