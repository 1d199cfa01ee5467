//go:build linux

package agent

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func startAlloc(cfg api.MemoryConfig, pids []uint32, out *Emitter) (allocTracer, error) {
	return nil, &memUserError{Msg: "--alloc is not available in this build", Remedy: "run without --alloc"}
}
