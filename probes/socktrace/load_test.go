//go:build linux

package socktrace

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
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

// TestVerifierCost logs how much work each program costs the verifier
// (it dominates attach time).
func TestVerifierCost(t *testing.T) {
	probetest.RequirePrivileged(t)
	spec, err := loadSocktrace()
	require.NoError(t, err)
	ncpu, err := ebpf.PossibleCPU()
	require.NoError(t, err)
	spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
	start := time.Now()
	coll, err := ebpf.NewCollection(spec)
	require.NoError(t, err)
	defer coll.Close()
	t.Logf("load took %v", time.Since(start))
	for name, p := range coll.Programs {
		info, err := p.Info()
		require.NoError(t, err)
		n, _ := info.VerifiedInstructions()
		insns, _ := info.Instructions()
		t.Logf("%-16s insns=%5d verified=%7d", name, len(insns), n)
	}
}
