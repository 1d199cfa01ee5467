package cmd

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
)

// peerSyncTimeout bounds the wait for the first lists of the peer cache;
// the probe pods start meanwhile.
const peerSyncTimeout = 15 * time.Second

// clusterNames names the other side of records from one watch of the
// cluster's pods, Services, nodes, ReplicaSets and Jobs: no API call per
// record. byWorkload names a Service peer by the workload behind it (the
// map's nodes).
type clusterNames struct {
	client     kubernetes.Interface
	errOut     io.Writer
	byWorkload bool
	cache      atomic.Pointer[peers.Cache] // set once its first lists are in
}

// source names src's records (peers.Annotate) as they come. Records wait
// for the watch's first lists, so every row is named alike. A watch that
// cannot list (RBAC) leaves the addresses as they are, with a warning.
func (n *clusterNames) source(src driver.Source) driver.Source {
	return func(ctx context.Context, emit func(string, []byte)) error {
		c := peers.New(n.client)
		if n.byWorkload {
			c.NameServicesByWorkload()
		}
		ready := make(chan struct{})
		go func() {
			defer close(ready)
			err := peers.CanList(ctx, n.client)
			if err == nil {
				err = c.Start(ctx, peerSyncTimeout)
			}
			if err != nil {
				fmt.Fprintf(n.errOut, "warning: peers stay IP addresses: %v\n", err)
				return
			}
			n.cache.Store(c)
		}()
		return src(ctx, func(node string, line []byte) {
			<-ready
			if c := n.cache.Load(); c != nil {
				line = c.Annotate(line)
			}
			emit(node, line)
		})
	}
}

// name names a row's peer that was still an address when its rows came,
// as the views draw them: a pod that starts calling before the API server
// has its IP (the kubelet reports it after the container runs) has its
// first requests' rows under the IP, which would split its row in two.
func (n *clusterNames) name(peer string) (string, bool) {
	if c := n.cache.Load(); c != nil {
		return c.PeerName(peer)
	}
	return "", false
}
