package traceview

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// A row the agent retracts (zero counts: the connection's row moved to
// the key of its recognised protocol) leaves -o json, where it would read
// as a connection opened and never closed.
func TestViewDropsRetractedConnStats(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "json", Window: 10 * time.Second, NodesTotal: 1, Now: fixedNow})
	row := func(proto, counts string) []byte {
		return []byte(`{"table":"conn_stats","v":1,"pid":7,"remote_addr":"10.0.0.2","remote_port":80,"trace_role":"client","protocol":"` + proto + `",` + counts + `}`)
	}
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", row("unknown", `"conn_open":1,"conn_active":1`))
		emit("n1", row("http", `"conn_open":1,"conn_active":1,"bytes_sent":90,"bytes_recv":120`))
		emit("n1", row("unknown", `"conn_open":0`))
		emit("n1", row("unknown", `"conn_open":0`)) // a key never kept: nothing to drop
	}); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, `"table":"conn_stats"`) {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1 || !strings.Contains(rows[0], `"protocol":"http"`) || !strings.Contains(rows[0], `"bytes_recv":120`) {
		t.Errorf("conn_stats rows:\n%s\nwant only the http one", strings.Join(rows, "\n"))
	}
}

// The CONNECTIONS table names a peer as the trace table does: the
// cluster's name first, else the name a traced DNS answer gave it.
func TestConnPeerNames(t *testing.T) {
	for _, c := range []struct {
		row  api.ConnStats
		want string
	}{
		{api.ConnStats{RemoteAddr: "192.0.2.7", RemotePort: 443, TraceRole: "client", RemoteDNS: "shop.test"}, "-> shop.test (192.0.2.7):443"},
		{api.ConnStats{RemoteAddr: "10.96.0.20", RemotePort: 80, TraceRole: "client", RemoteDNS: "api.shop.svc.cluster.local",
			RemoteNames: api.RemoteNames{RemoteService: "api", RemoteNamespace: "shop"}}, "-> shop/api (10.96.0.20):80"},
		{api.ConnStats{RemoteAddr: "192.0.2.8", RemotePort: 443, TraceRole: "client"}, "-> 192.0.2.8:443"},
		{api.ConnStats{RemoteAddr: "192.0.2.7", LocalPort: 8080, TraceRole: "server", RemoteDNS: "shop.test"}, ":8080 <- shop.test (192.0.2.7)"},
	} {
		if got := connPeer(c.row); got != c.want {
			t.Errorf("connPeer(%+v) = %q, want %q", c.row, got, c.want)
		}
	}
}
