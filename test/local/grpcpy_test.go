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

// pythonAs links Debian's python3 (python3-grpcio is installed for it, not
// for a python3 earlier on PATH) under name, so the process's command name
// is name and the trace can target it.
func pythonAs(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatalf("Debian's /usr/bin/python3 is missing: run hack/deps.sh: %v", err)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import grpc").Run(); err != nil {
		t.Fatalf("/usr/bin/python3 cannot import grpc: run hack/deps.sh (python3-grpcio): %v", err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.Symlink("/usr/bin/python3", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTraceGRPCPython: gRPC's C core (Debian's python3-grpcio) on both
// sides, which writes each response with one sendmsg of many iovecs (one
// per HPACK piece) and so relies on every iovec being copied: 300 unary
// calls answered OK and 20 NOT_FOUND on one channel, both roles traced.
// Per method and status, each side's records equal what the client saw
// and what the server handled.
func TestTraceGRPCPython(t *testing.T) {
	requirePrivileged(t)
	runGRPCPython(t, 300, 20, 16)
}

// TestTraceGRPCPythonLarge: the same with Say answered by 1 MiB, far more
// than a call's capture: exact counts and body sizes, both roles. (The C
// core's calls keep their frame headers where the capture sees them: this
// passed before the kernel followed HTTP/2 frames too, unlike grpc-go's in
// TestTraceGRPCLarge; it guards the cut calls of a second implementation.)
func TestTraceGRPCPythonLarge(t *testing.T) {
	requirePrivileged(t)
	runGRPCPython(t, 30, 5, 1<<20)
}

// runGRPCPython makes ok Say calls answered with size bytes and notFound
// Find calls between Python peers, and checks both sides' records.
func runGRPCPython(t *testing.T, ok, notFound, size int) {
	peer, _ := filepath.Abs("testdata/grpcpy/peer.py")
	srv := exec.Command(pythonAs(t, "grpcpysrv"), peer, "server")
	srvProc, port := startPeer(t, srv, "the Python gRPC server")

	tr := startTrace(t, "--comm", "grpcpysrv", "--comm", "grpcpycli", "--duration", "90s")
	cli := exec.Command(pythonAs(t, "grpcpycli"), peer, "client", port, strconv.Itoa(ok), strconv.Itoa(notFound), strconv.Itoa(size))
	cli.Stderr = os.Stderr
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("Python gRPC client: %v", err)
	}
	recs := tr.stop(t)
	var sawClient, sawServer map[string]int
	if err := json.Unmarshal(out, &sawClient); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	srvProc.closeAndDecode(t, "server", &sawServer)
	const m = "/pixie.test.Echo/"
	want := map[string]int{m + "Say 0": ok, m + "Find 5": notFound}
	if !maps.Equal(sawClient, want) || !maps.Equal(sawServer, want) {
		t.Fatalf("the client saw %v and the server handled %v, want %v: the load is not what the test meant", sawClient, sawServer, want)
	}

	server, client := map[string]int{}, map[string]int{}
	for _, e := range recs.events {
		if e.Protocol != vocab.ProtocolGRPC || e.ReqMethod != "POST" || e.RespStatus != 200 || e.Latency <= 0 || e.Latency > int64(10*time.Second) {
			t.Errorf("record %+v", e)
			continue
		}
		k := e.ReqPath + " " + e.GRPCStatus
		if e.ReqPath == m+"Say" && e.RespBodySize != int64(5+size) {
			t.Errorf("Say answer of %d bytes, want %d", e.RespBodySize, 5+size)
		}
		// By PID: a record's comm is its thread's, and gRPC's C core
		// may make a call from its executor thread ("default-executo").
		switch {
		case e.PID == uint32(srv.Process.Pid) && e.TraceRole == vocab.RoleServer:
			server[k]++
		case e.PID == uint32(cli.Process.Pid) && e.TraceRole == vocab.RoleClient:
			client[k]++
		default:
			t.Errorf("record from %s as %s: %s", e.Comm, e.TraceRole, k)
		}
	}
	t.Logf("server %v client %v tables %v", server, client, recs.tables)
	if !maps.Equal(server, sawServer) {
		t.Errorf("server side traced %v, the server handled %v", server, sawServer)
	}
	if !maps.Equal(client, sawClient) {
		t.Errorf("client side traced %v, the client saw %v", client, sawClient)
	}
	final := recs.stats[len(recs.stats)-1]
	for _, k := range []string{"parse_errors", "unmatched_requests", "unmatched_responses", "truncated", "iov_cut", "h2_cut"} {
		if final.LostBy[k] != 0 && (k != "truncated" || size <= 4096) {
			t.Errorf("probe_stats lost_by %v", final.LostBy)
			break
		}
	}
	rows := summaries(t, tr.out.Bytes(), vocab.ProtocolGRPC)
	for k, w := range map[string][2]uint64{m + "Say  OK": {2 * uint64(ok), 0}, m + "Find  NOT_FOUND": {2 * uint64(notFound), 2 * uint64(notFound)}} {
		if r := rows[k]; r.Count != w[0] || r.Errors != w[1] {
			t.Errorf("summary %q: count %d errors %d, want %d %d", k, r.Count, r.Errors, w[0], w[1])
		}
	}
}
