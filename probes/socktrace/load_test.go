//go:build linux

package socktrace

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// TestLoadAndVerify loads every program through the verifier.
func TestLoadAndVerify(t *testing.T) {
	probetest.RequirePrivileged(t)
	spec, err := loadSocktrace()
	require.NoError(t, err)
	ncpu, err := ebpf.PossibleCPU()
	require.NoError(t, err)
	spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("load: %+v", err)
	}
	defer coll.Close()
	require.Len(t, coll.Programs, len(spec.Programs))
	for name := range coll.Programs {
		require.LessOrEqual(t, len(name), 15, "program name %q is truncated by the kernel", name)
	}
	for name := range coll.Maps {
		require.LessOrEqual(t, len(name), 15, "map name %q", name)
	}
}

// TestLoadAndVerifyHTTP1Summary loads every program with the kernel's
// HTTP/1 summaries on: a load-time constant, so with it off the verifier
// never walks that code.
func TestLoadAndVerifyHTTP1Summary(t *testing.T) {
	probetest.RequirePrivileged(t)
	if !haveLoop() {
		t.Skip("SKIP: no bpf_loop (Linux < 5.17): summaries stay off here")
	}
	spec, err := loadSocktrace()
	require.NoError(t, err)
	ncpu, err := ebpf.PossibleCPU()
	require.NoError(t, err)
	spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
	require.NoError(t, spec.Variables["h1_summary"].Set(uint32(1)))
	pickVectorExits(spec)
	delete(spec.Programs, "px_exit_old")
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("load: %+v", err)
	}
	defer coll.Close()
	require.Len(t, coll.Programs, len(spec.Programs))
}

// TestVerifierCost logs how much work each program costs the verifier
// (it dominates attach time), with the kernel's HTTP/1 summaries off and on.
func TestVerifierCost(t *testing.T) {
	probetest.RequirePrivileged(t)
	for _, h1 := range []uint32{0, 1} {
		if h1 == 1 && !haveLoop() {
			t.Log("no bpf_loop: summaries stay off here")
			continue
		}
		spec, err := loadSocktrace()
		require.NoError(t, err)
		ncpu, err := ebpf.PossibleCPU()
		require.NoError(t, err)
		spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
		require.NoError(t, spec.Variables["h1_summary"].Set(h1))
		start := time.Now()
		coll, err := ebpf.NewCollection(spec)
		require.NoError(t, err)
		t.Logf("h1_summary=%d: load took %v", h1, time.Since(start))
		names := make([]string, 0, len(coll.Programs))
		for name := range coll.Programs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			info, err := coll.Programs[name].Info()
			require.NoError(t, err)
			n, _ := info.VerifiedInstructions()
			insns, _ := info.Instructions()
			t.Logf("h1_summary=%d %-16s insns=%5d verified=%7d", h1, name, len(insns), n)
		}
		coll.Close()
	}
}

// TestBoundedExitsNeedNoLoop: with the summaries off (as Go loads them on
// kernels without bpf_loop), what the verifier walks of the programs
// loaded there calls neither bpf_loop nor the HTTP/1 functions: the
// kernel drops what it never walked, so the loaded instructions show it.
func TestBoundedExitsNeedNoLoop(t *testing.T) {
	probetest.RequirePrivileged(t)
	spec, err := loadSocktrace()
	require.NoError(t, err)
	ncpu, err := ebpf.PossibleCPU()
	require.NoError(t, err)
	spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
	coll, err := ebpf.NewCollection(spec)
	require.NoError(t, err)
	defer coll.Close()
	checked := 0
	for name, p := range coll.Programs {
		if !strings.HasPrefix(name, "px_eb_") && name != "px_ex_sendfile" && name != "px_ex_splice" {
			continue
		}
		info, err := p.Info()
		require.NoError(t, err)
		insns, err := info.Instructions()
		require.NoError(t, err)
		for _, ins := range insns {
			require.False(t, ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnLoop, "%s calls bpf_loop", name)
			require.False(t, ins.IsFunctionCall(), "%s calls a function", name)
		}
		checked++
	}
	require.Equal(t, 12, checked)
}
