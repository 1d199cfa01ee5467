package local

import (
	"os/exec"
	"runtime"
	"syscall"
)

// childAttrs puts the agent in its own process group (Ctrl-C, a closed
// terminal and SIGQUIT reach the plugin, which stops the agent and reads
// its final records) and has the kernel send it SIGTERM if the plugin dies
// without stopping it (SIGKILL, a crash), so no agent outlives the
// plugin. The parent-death signal follows the thread that started the
// child: the goroutine stays on it until the agent has exited (the
// returned func releases it).
func childAttrs(cmd *exec.Cmd) func() {
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	return runtime.UnlockOSThread
}
