//go:build linux

package agent

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// VersionName is the subcommand that prints the agent's version and what
// it finds on its node (doctor runs it in a short pod).
const VersionName = "version"

// hello is the first record of every run.
func hello(out *Emitter, probe string) {
	r := &api.AgentHello{Header: api.Header{Table: api.TableAgentHello}, AgentVersion: version.Version, Probe: probe}
	out.Emit(&r.Header, r)
	_ = out.Flush() // the plugin checks it before anything else
}

// runVersion prints one agent_hello record with the node's kernel, BTF
// and whether a BPF program can load and attach here.
func runVersion(_ []string, stdout, _ io.Writer) int {
	out := NewEmitter(stdout)
	defer out.Flush()
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	btf := err == nil
	r := &api.AgentHello{Header: api.Header{Table: api.TableAgentHello}, AgentVersion: version.Version,
		Arch: runtime.GOARCH, Kernel: kernelRelease(), BTF: &btf, Attach: "ok"}
	if err := tryAttach(); err != nil {
		r.Attach = err.Error()
	}
	out.Emit(&r.Header, r)
	return 0
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// tryAttach loads a program that does nothing and attaches it to a
// syscall tracepoint, the kind of hook every probe uses, then removes it.
func tryAttach() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.TracePoint,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("loading a BPF program: %w", err)
	}
	defer prog.Close()
	l, err := link.Tracepoint("syscalls", "sys_enter_getpid", prog, nil)
	if err != nil {
		return fmt.Errorf("attaching to tracepoint syscalls/sys_enter_getpid: %w", err)
	}
	return l.Close()
}
