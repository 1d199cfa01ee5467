//go:build linux

package socktrace

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// argsOf counts tgid's threads with saved arguments in px_args.
func argsOf(t *testing.T, tr *Tracer, tgid uint32) int {
	t.Helper()
	var (
		key  uint64
		args socktracePxArgs
		n    int
	)
	it := tr.coll.Maps["px_args"].Iterate()
	for it.Next(&key, &args) {
		if uint32(key>>32) == tgid {
			n++
		}
	}
	require.NoError(t, it.Err())
	return n
}

// Targets below pid_max live in px_tslots, those above in px_targets; both
// are set and cleared, and RemovePID drops the saved arguments of the
// process's threads (its exits no longer consume them).
func TestTargetSlotsAndHash(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "curl")
	srv := startHelper(t, "http", "127.0.0.1:0")
	c := startTracer(t, Config{PIDs: []uint32{srv.pid()}})
	require.Positive(t, c.tr.slots, "no target slots on this kernel")
	require.Less(t, srv.pid(), c.tr.slots)

	out, err := exec.Command("curl", curlArgs("http://"+srv.first+"/hello")...).Output()
	require.NoError(t, err)
	require.Equal(t, helloBody, string(out))
	c.waitFor(t, "server close", srv.pid(), hasKind(conn.KindClose))
	on, err := c.tr.isTargeted(srv.pid())
	require.NoError(t, err)
	require.True(t, on)
	require.Positive(t, argsOf(t, c.tr, srv.pid()), "the server's calls saved no arguments")

	require.NoError(t, c.tr.RemovePID(srv.pid()))
	on, err = c.tr.isTargeted(srv.pid())
	require.NoError(t, err)
	require.False(t, on)
	require.Zero(t, argsOf(t, c.tr, srv.pid()), "arguments of an untargeted process kept")

	above := c.tr.slots + 1
	require.NoError(t, c.tr.AddPID(above))
	var v uint8
	require.NoError(t, c.tr.coll.Maps["px_targets"].Lookup(above, &v), "a tgid above pid_max is not in px_targets")
	on, err = c.tr.isTargeted(above)
	require.NoError(t, err)
	require.True(t, on)
	require.NoError(t, c.tr.RemovePID(above))
	on, err = c.tr.isTargeted(above)
	require.NoError(t, err)
	require.False(t, on)
}
