//go:build linux

package socktrace

import (
	"testing"

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
