package traceview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// connKey is a conn_stats row of one node.
type connKey struct {
	node string
	api.ConnStatsKey
}

// maxConnRows bounds the rows kept from all nodes (the agent bounds its own).
const maxConnRows = 1 << 16

// addConnStats keeps the latest row of each key (the agent's values are
// cumulative) and drops a key the agent retracted.
func (v *View) addConnStats(node string, line []byte) {
	var s api.ConnStats
	if err := json.Unmarshal(line, &s); err != nil {
		v.warnOnce("bad-conn-stats", "skipping a malformed conn_stats record: "+err.Error())
		return
	}
	k := connKey{node, s.Key()}
	if s.Retracted() {
		delete(v.conns, k)
		return
	}
	if _, ok := v.conns[k]; !ok && len(v.conns) >= maxConnRows {
		v.warnOnce("conn-rows", fmt.Sprintf("more than %d conn_stats rows: later peers are left out", maxConnRows))
		return
	}
	s.Node = node
	v.conns[k] = s
}

// connRows returns the rows, the busiest (bytes both ways) first.
func (v *View) connRows() []api.ConnStats {
	rows := make([]api.ConnStats, 0, len(v.conns))
	for _, r := range v.conns {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].BytesSent+rows[i].BytesRecv, rows[j].BytesSent+rows[j].BytesRecv
		if a != b {
			return a > b
		}
		ki, kj := rows[i].Key(), rows[j].Key()
		if rows[i].Node != rows[j].Node {
			return rows[i].Node < rows[j].Node
		}
		if ki.PID != kj.PID {
			return ki.PID < kj.PID
		}
		return fmt.Sprint(ki) < fmt.Sprint(kj)
	})
	return rows
}

// writeConnStats writes the window's conn_stats rows for -o json: one per
// key, with its totals (the last cumulative value the agent sent).
func (v *View) writeConnStats(out io.Writer) {
	for _, r := range v.connRows() {
		node := r.Node
		r.Node = ""
		b, _ := json.Marshal(r)
		_, _ = out.Write(append(driver.Stamp(nil, node, b), '\n'))
	}
}

// connSection is the -o wide CONNECTIONS table: each process's TCP
// connections per peer, whatever their protocol.
func (v *View) connSection() []byte {
	if len(v.conns) == 0 {
		return nil
	}
	t := &render.Table{Columns: []render.Column{
		{Title: "PROCESS"}, {Title: "ROLE"}, {Title: "PEER"}, {Title: "PROTO"},
		{Title: "OPENED", Right: true}, {Title: "CLOSED", Right: true}, {Title: "ACTIVE", Right: true},
		{Title: "SENT", Right: true}, {Title: "RECEIVED", Right: true},
	}, MaxWidth: v.o.Width, Shrink: 2}
	for _, r := range v.connRows() {
		t.Rows = append(t.Rows, []render.Cell{
			render.Plain(render.Sanitize(fmt.Sprintf("%s (%d)", r.Comm, r.PID))),
			render.Plain(r.TraceRole),
			render.Plain(render.Sanitize(connPeer(r))),
			render.Plain(render.Sanitize(r.Protocol)),
			render.Plain(render.FormatCount(r.ConnOpen)),
			render.Plain(render.FormatCount(r.ConnClose)),
			render.Plain(render.FormatCount(r.ConnActive)),
			render.Plain(render.FormatBytes(r.BytesSent)),
			render.Plain(render.FormatBytes(r.BytesRecv)),
		})
	}
	b := []byte("\nCONNECTIONS\n")
	for _, l := range t.Lines() {
		b = append(append(b, l...), '\n')
	}
	return b
}

// connPeer is a client's server, or a server's port and caller, named
// when the cluster knows the address ("-> shop/api (10.96.0.20):8080"),
// else when a traced DNS answer gave it ("-> shop.test (192.0.2.7):443").
func connPeer(r api.ConnStats) string {
	addr := r.RemoteAddr
	if n := cmp.Or(remoteName(r.RemoteNames), r.RemoteDNS); n != "" {
		addr = n + " (" + addr + ")"
	}
	if r.TraceRole == "server" {
		return ":" + strconv.Itoa(int(r.LocalPort)) + " <- " + addr
	}
	return "-> " + addr + ":" + strconv.Itoa(int(r.RemotePort))
}

// remoteName is how a table names a remote: namespace/workload, a
// Service's namespace/name, a node; "" when unnamed.
func remoteName(n api.RemoteNames) string {
	switch {
	case n.RemoteWorkload != "":
		_, name, _ := strings.Cut(n.RemoteWorkload, "/")
		return n.RemoteNamespace + "/" + name
	case n.RemoteService != "":
		return n.RemoteNamespace + "/" + n.RemoteService
	}
	return n.RemoteNode
}
