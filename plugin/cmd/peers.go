package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
)

// peerSyncTimeout bounds the wait for the first lists of the peer cache;
// the probe pods start meanwhile.
const peerSyncTimeout = 15 * time.Second

// namedSource names the other side of src's records (peers.Annotate) from
// one watch of the cluster's pods, Services, nodes, ReplicaSets and Jobs,
// started with the source: no API call per record. Records wait for its
// first lists, so every row is named alike. A watch that cannot list
// (RBAC) leaves the addresses as they are, with a warning. byWorkload
// names a Service peer by the workload behind it (the map's nodes).
func namedSource(client kubernetes.Interface, errOut io.Writer, src driver.Source, byWorkload bool) driver.Source {
	return func(ctx context.Context, emit func(string, []byte)) error {
		c := peers.New(client)
		if byWorkload {
			c.NameServicesByWorkload()
		}
		ready := make(chan struct{})
		var named *peers.Cache
		go func() {
			defer close(ready)
			err := peers.CanList(ctx, client)
			if err == nil {
				err = c.Start(ctx, peerSyncTimeout)
			}
			if err != nil {
				fmt.Fprintf(errOut, "warning: peers stay IP addresses: %v\n", err)
				return
			}
			named = c
		}()
		return src(ctx, func(node string, line []byte) {
			<-ready
			if named != nil {
				line = named.Annotate(line)
			}
			emit(node, line)
		})
	}
}
