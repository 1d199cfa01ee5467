//go:build linux

package socktrace

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	h2parser "github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http2"
)

// helperH2C serves cleartext HTTP/2 (h2c, prior knowledge) on addr and
// prints the bound address.
func helperH2C(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	h := h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), &http2.Server{})
	return (&http.Server{Handler: h, MaxHeaderBytes: 1 << 20}).Serve(ln)
}

// A real flood: a Go client opens many h2c connections to a real server
// and fills each connection's HPACK table with new header fields, leaving
// them all open. The server is traced and its events parsed by the real
// HTTP/2 parser under a small memory budget: the budget holds, the
// evictions are counted, and the exchanges still make records.
func TestH2CFloodStaysWithinBudget(t *testing.T) {
	const conns, perConn, budget = 512, 16, 8 << 20
	srv := startHelper(t, "h2c", "127.0.0.1:0")
	tr, err := New(Config{PIDs: []uint32{srv.pid()}, MaxPayload: MaxPayloadCap})
	require.NoError(t, err)
	defer tr.Close()
	var mu sync.Mutex
	records := 0
	trk := conn.NewTracker(conn.Options{Protocols: []conn.Protocol{h2parser.Protocol{}}, MemoryBudget: budget}, func(conn.Protocol, api.Record) { records++ })
	maxHeld := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, func(e *conn.Event) {
			mu.Lock()
			trk.Handle(e)
			maxHeld = max(maxHeld, trk.HeldBytes())
			mu.Unlock()
		})
	}()

	value := strings.Repeat("f", 3800)
	var wg sync.WaitGroup
	clients := make([]*http2.Transport, conns)
	errs := make(chan error, conns)
	for i := range conns {
		clients[i] = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		wg.Add(1)
		go func(c *http2.Transport) {
			defer wg.Done()
			for j := range perConn {
				req, _ := http.NewRequest("GET", "http://"+srv.first+"/", nil)
				req.Header.Set(fmt.Sprintf("X-Fill-%02d", j), value) // a new table entry each time
				resp, err := c.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
			}
		}(clients[i])
		if i%32 == 31 {
			wg.Wait() // a few dozen at a time: the host is shared
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return records >= conns*perConn/2
	}, 30_000_000_000, 100_000_000, "records of the flood")
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	st := trk.Stats()
	t.Logf("%d records, %d connections tracked, %d evicted for the budget, at most %d bytes held; lost_by %v",
		records, trk.Conns(), st.BudgetConns, maxHeld, tr.Stats().LostBy)
	require.LessOrEqual(t, maxHeld, budget)
	require.Positive(t, st.BudgetConns)
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}
