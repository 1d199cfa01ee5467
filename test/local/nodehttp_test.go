//go:build linux

package local

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// nodeAs links node under name, so the process's command name is name.
func nodeAs(t *testing.T, name string) string {
	t.Helper()
	node := requireCmd(t, "node")
	p := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(node, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTraceNodeChunked: Node's own HTTP server and client on keep-alive
// connections, chunked bodies of 5 KiB to 2 MiB, more than a call's
// capture (4 KiB by default). /one answers with res.end(body): one writev of the
// headers, the chunk and the last chunk, whose end is seen only in the
// call's last bytes (the tail). /many writes chunks of 5 KB to 1 MB with
// res.write in one tick: Node gathers them into calls whose uncaptured
// middles hide chunk-size lines, on both sides (the client reads 64 KiB
// at a time); the body's end is the last chunk in the tail of the call
// that ends it. Every one is traced, both roles, none invented.
func TestTraceNodeChunked(t *testing.T) {
	requirePrivileged(t)
	const rounds = 3
	peer, _ := filepath.Abs("testdata/nodehttp/peer.js")
	srv := exec.Command(nodeAs(t, "nodesrv"), peer, "server")
	srvProc, port := startPeer(t, srv, "the Node server")

	tr := startTrace(t, "--comm", "nodesrv", "--comm", "nodecli", "--duration", "90s")
	cli := exec.Command(nodeAs(t, "nodecli"), peer, "client", port, strconv.Itoa(rounds))
	cli.Stderr = os.Stderr
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("Node client: %v", err)
	}
	recs := tr.stop(t)
	var sawClient, sawServer map[string]int
	if err := json.Unmarshal(out, &sawClient); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	srvProc.closeAndDecode(t, "server", &sawServer)
	want := map[string]int{"GET /one 200": 4 * rounds, "GET /many 200": 4 * rounds}
	if !maps.Equal(sawClient, want) || !maps.Equal(sawServer, want) {
		t.Fatalf("the client read %v and the server answered %v, want %v", sawClient, sawServer, want)
	}

	got := map[string]map[string]int{vocab.RoleClient: {}, vocab.RoleServer: {}}
	for _, e := range recs.events {
		if e.Protocol != "" || e.MajorVersion != 1 || e.Latency <= 0 || e.Latency > int64(10*time.Second) {
			t.Errorf("record %+v", e)
			continue
		}
		if !(e.Comm == "nodesrv" && e.TraceRole == vocab.RoleServer || e.Comm == "nodecli" && e.TraceRole == vocab.RoleClient) {
			t.Errorf("record from %s as %s: %s", e.Comm, e.TraceRole, e.ReqPath)
			continue
		}
		got[e.TraceRole][e.ReqMethod+" "+e.ReqPath+" "+strconv.Itoa(e.RespStatus)]++
	}
	t.Logf("traced %v, lost_by %v", got, recs.stats[len(recs.stats)-1].LostBy)
	for role, byPath := range got {
		for _, n := range []string{"5120", "71680", "307200", "1048576"} {
			k := "GET /one/" + n + " 200"
			if byPath[k] != rounds {
				t.Errorf("%s side traced %d %s, want %d", role, byPath[k], k, rounds)
			}
		}
		for _, n := range []string{"5120/5120", "71680/5000", "307200/16384", "2097152/1000000"} {
			k := "GET /many/" + n + " 200"
			if byPath[k] != rounds {
				t.Errorf("%s side traced %d %s, want %d", role, byPath[k], k, rounds)
			}
		}
		if len(byPath) > 8 {
			t.Errorf("%s side traced paths never asked for: %v", role, byPath)
		}
	}
}
