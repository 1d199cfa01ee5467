package peers

import (
	"bytes"
	"encoding/json"
	"net/netip"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Names returns the columns that name ip in -o json records and the name a
// table shows ("shop/api"); ok is false for an address the cluster does
// not know (it stays an IP).
func (c *Cache) Names(ip string) (n api.RemoteNames, name string, ok bool) {
	p, ok := c.Lookup(ip)
	if !ok {
		return n, "", false
	}
	switch p.Kind {
	case KindPod:
		n = api.RemoteNames{RemotePod: p.Name, RemoteWorkload: p.Workload, RemoteNamespace: p.Namespace}
	case KindService:
		n = api.RemoteNames{RemoteService: p.Name, RemoteNamespace: p.Namespace}
	case KindNode:
		n = api.RemoteNames{RemoteNode: p.Name}
	}
	return n, p.String(), true
}

var (
	statsPrefix = []byte(`{"table":"` + api.TableHTTPStats + `"`)
	remoteAddr  = []byte(`"remote_addr":"`)
	peerKey     = []byte(`"peer":"`)
)

// Annotate names the other side of one NDJSON record: the peers of
// http_stats rows become names (a client's server "shop/api", a server's
// caller "shop/frontend"; rows that name the same peer then merge), and a
// record with a remote_addr (per-request records, conn_stats) gets the
// remote_pod, remote_workload, remote_namespace, remote_service or
// remote_node columns. Other lines, and addresses the cluster does not
// know, are returned as they are.
func (c *Cache) Annotate(line []byte) []byte {
	if bytes.HasPrefix(line, statsPrefix) {
		return c.nameRows(line)
	}
	line = c.nameObs(line)
	i := bytes.Index(line, remoteAddr)
	if i < 0 || len(line) < 2 || line[0] != '{' {
		return line
	}
	rest := line[i+len(remoteAddr):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return line
	}
	n, _, ok := c.Names(string(rest[:end]))
	if !ok {
		return line
	}
	last := bytes.LastIndexByte(line, '}')
	cols, _ := json.Marshal(n)
	out := make([]byte, 0, len(line)+len(cols))
	out = append(out, line[:last]...) // the header stays first: readers match its prefix
	out = append(out, ',')
	return append(append(out, cols[1:]...), line[last+1:]...)
}

// obsKey starts a request's observation (a recording's, api.Header.Obs):
// a quote is escaped inside strings, so it only starts a key.
var obsKey = []byte(`,"obs":`)

// nameObs renames the peer of a request's observation as nameRows does a
// row's, so that a replay counting the requests again names them alike.
func (c *Cache) nameObs(line []byte) []byte {
	i := bytes.Index(line, obsKey)
	if i < 0 {
		return line
	}
	start := i + len(obsKey)
	dec := json.NewDecoder(bytes.NewReader(line[start:]))
	var o stats.Observation
	if dec.Decode(&o) != nil {
		return line
	}
	name, ok := c.PeerName(o.Peer)
	if !ok {
		return line
	}
	o.Peer = name
	b, err := json.Marshal(o)
	if err != nil {
		return line
	}
	out := make([]byte, 0, len(line)+len(b))
	out = append(append(out, line[:start]...), b...)
	return append(out, line[start+int(dec.InputOffset()):]...)
}

// nameRows renames the peers of an http_stats record's rows. A record
// none of whose peers the cluster knows (clients outside it, loopback) is
// returned without decoding it: the merge decodes it anyway, once.
func (c *Cache) nameRows(line []byte) []byte {
	if !c.namesAnyPeer(line) {
		return line
	}
	var s api.HTTPStats
	if json.Unmarshal(line, &s) != nil {
		return line
	}
	changed := false
	for i := range s.Rows {
		if name, ok := c.PeerName(s.Rows[i].Peer); ok {
			s.Rows[i].Peer, changed = name, true
		}
	}
	if !changed {
		return line
	}
	b, err := json.Marshal(s)
	if err != nil {
		return line
	}
	return b
}

// PeerName names a row's peer: "ip:port" (a client's server) or "ip" (a
// server's caller).
func (c *Cache) PeerName(peer string) (string, bool) {
	ip := peer
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		ip = ap.Addr().Unmap().String()
	} else if _, err := netip.ParseAddr(peer); err != nil {
		return "", false
	}
	p, ok := c.Lookup(ip)
	if !ok {
		return "", false
	}
	if p.Kind == KindService && c.servicesAsWorkloads {
		if b, ok := c.Backend(p.Namespace, p.Name); ok {
			return b.String(), true
		}
	}
	return p.String(), true
}

// namesAnyPeer reports whether a "peer" value of the record may be renamed.
// Addresses are plain (no escapes); a value it cannot read counts as
// nameable, so that the decode decides.
func (c *Cache) namesAnyPeer(line []byte) bool {
	for rest := line; ; {
		i := bytes.Index(rest, peerKey)
		if i < 0 {
			return false
		}
		rest = rest[i+len(peerKey):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
			return true
		}
		if _, ok := c.PeerName(string(rest[:end])); ok {
			return true
		}
		rest = rest[end:]
	}
}
