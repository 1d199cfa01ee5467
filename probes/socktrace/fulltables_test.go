//go:build linux

package socktrace

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// fill puts dummy entries (keys no process has) into a hash map until it
// is full.
func fill(t *testing.T, m *ebpf.Map, key func(i uint32) any, value any) {
	t.Helper()
	for i := uint32(0); ; i++ {
		err := m.Update(key(i), value, ebpf.UpdateNoExist)
		if errors.Is(err, ebpf.ErrKeyExist) {
			continue
		}
		if err != nil {
			require.Greater(t, i, uint32(0), "first update failed: %v", err)
			return
		}
	}
}

// With px_nconns full, a process that exits with a socket open still has
// its px_conns entry dropped and its close reported (both exit programs),
// and the miss is counted.
func TestNConnsFullDoesNotLeakConns(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			forceExitFallback = fallback
			defer func() { forceExitFallback = false }()
			srv := startHelper(t, "http", "127.0.0.1:0")
			cl := startHelperLines(t, "exitopen", srv.first, false)
			c := startTracer(t, Config{PIDs: []uint32{cl.pid()}})
			fill(t, c.tr.coll.Maps["px_nconns"], func(i uint32) any { return 0xf0000000 + i }, uint32(1))
			cl.release(t)
			cl.rest(t)
			evs := c.waitFor(t, "close at exit", cl.pid(), hasKind(conn.KindClose))
			id, _ := only(t, streams(t, evs, 0))
			var cv socktracePxConn
			key := uint64(id.TGID)<<32 | uint64(uint32(id.FD))
			require.ErrorIs(t, c.tr.coll.Maps["px_conns"].Lookup(key, &cv), ebpf.ErrKeyNotExist, "connection of an exited pid kept")
			require.Positive(t, c.tr.Stats().LostBy[LostNConnsFull])
		})
	}
}

// With px_targets full, a targeted process's children cannot be targeted:
// counted, not silent.
// Only the hash can fill: px_tslots has a byte for every tgid below pid_max.
func TestTargetsFullIsCounted(t *testing.T) {
	forceTargetHash = true
	defer func() { forceTargetHash = false }()
	sh := startGated(t, "sh", "-c", "/bin/true; /bin/true")
	c := startTracer(t, Config{PIDs: []uint32{sh.pid()}})
	fill(t, c.tr.coll.Maps["px_targets"], func(i uint32) any { return 0xf0000000 + i }, uint8(1))
	sh.release(t)
	sh.rest(t)
	require.Eventually(t, func() bool { return c.tr.Stats().LostBy[LostTargetsFull] > 0 }, 5*time.Second, 20*time.Millisecond,
		"fork with px_targets full not counted")
}

// With px_args full, the calls of a new thread of a targeted process lose
// their arguments: counted, not silent.
func TestArgsFullIsCounted(t *testing.T) {
	sh := startGated(t, "sh", "-c", "/bin/echo one; /bin/echo two")
	c := startTracer(t, Config{PIDs: []uint32{sh.pid()}})
	fill(t, c.tr.coll.Maps["px_args"], func(i uint32) any { return uint64(0xf0000000+i) << 32 }, socktracePxArgs{})
	sh.release(t)
	sh.rest(t)
	require.Eventually(t, func() bool { return c.tr.Stats().LostBy[LostArgsFull] > 0 }, 5*time.Second, 20*time.Millisecond,
		"calls with px_args full not counted")
}
