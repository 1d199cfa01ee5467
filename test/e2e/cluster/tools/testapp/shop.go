package main

// The shop's counting: clients count, per server, the requests that
// succeeded, the connections they opened and closed and the bytes they
// wrote and read on them, and print it as one line per server:
//
//	peer|call ADDR requests=N opened=N closed=N sent=N recv=N
//
// (TestShop holds conn_stats and the map to these counts).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// peerCount is what a client counted with one server.
type peerCount struct {
	addr                                 string
	requests, opened, closed, sent, recv atomic.Int64
}

func (p *peerCount) line(kind string) string {
	return fmt.Sprintf("%s %s requests=%d opened=%d closed=%d sent=%d recv=%d\n",
		kind, p.addr, p.requests.Load(), p.opened.Load(), p.closed.Load(), p.sent.Load(), p.recv.Load())
}

// dial opens a connection to p's server that counts into p.
func (p *peerCount) dial(ctx context.Context) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	p.opened.Add(1)
	return &countedConn{Conn: c, p: p}, nil
}

// countedConn counts the bytes each read and write moved, and its close.
type countedConn struct {
	net.Conn
	p    *peerCount
	once sync.Once
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.recv.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.p.sent.Add(int64(n))
	return n, err
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.p.closed.Add(1) })
	return c.Conn.Close()
}

// peers is a client's counts by server address.
type peers struct {
	mu  sync.Mutex
	by  map[string]*peerCount
	ord []*peerCount
}

func (ps *peers) get(addr string) *peerCount {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.by == nil {
		ps.by = map[string]*peerCount{}
	}
	p := ps.by[addr]
	if p == nil {
		p = &peerCount{addr: addr}
		ps.by[addr] = p
		ps.ord = append(ps.ord, p)
	}
	return p
}

func (ps *peers) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	return ps.get(addr).dial(ctx)
}

// report waits (at most 2 s: the transport closes asynchronously) until
// every connection is closed, then writes one peer line per server.
func (ps *peers) report(w io.Writer) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		open := false
		for _, p := range ps.ord {
			open = open || p.opened.Load() != p.closed.Load()
		}
		if !open {
			break
		}
	}
	for _, p := range ps.ord {
		fmt.Fprint(w, p.line("peer"))
	}
}

// shopAPI serves GET /cart by one Redis command (INCR) and one PostgreSQL
// query (SELECT 1), each on a connection of its own, and logs each call;
// any other path answers without calling them (a readiness check).
func shopAPI(addr, redisAddr, pgAddr string) {
	h, _ := os.Hostname()
	var logMu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cart" {
			fmt.Fprintf(w, "api %s\n", h)
			return
		}
		failed := false
		for _, call := range []struct {
			addr string
			do   func(net.Conn) error
		}{{redisAddr, redisIncr}, {pgAddr, pgSelect1}} {
			p := &peerCount{addr: call.addr}
			err := oneCall(r.Context(), p, call.do)
			logMu.Lock()
			if err != nil {
				failed = true
				fmt.Printf("call %s error: %v\n", call.addr, err)
			}
			fmt.Print(p.line("call"))
			logMu.Unlock()
		}
		if failed {
			http.Error(w, "backend failed", http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "cart from %s\n", h)
	})
	fmt.Println("shop api on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

// oneCall runs do on a new connection to p's server and closes it.
func oneCall(ctx context.Context, p *peerCount, do func(net.Conn) error) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if err := do(c); err != nil {
		return err
	}
	p.requests.Add(1)
	return nil
}

// redisIncr sends INCR cart and reads its integer reply.
func redisIncr(c net.Conn) error {
	if _, err := io.WriteString(c, "*2\r\n$4\r\nINCR\r\n$4\r\ncart\r\n"); err != nil {
		return err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if l[0] != ':' {
		return fmt.Errorf("redis answered %q", l)
	}
	return nil
}

// pgSelect1 starts a session as user shop (trusted), runs SELECT 1 and
// terminates it: one query as the parser counts them.
func pgSelect1(c net.Conn) error {
	params := "user\x00shop\x00database\x00postgres\x00\x00"
	start := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	start = binary.BigEndian.AppendUint32(start, 196608) // protocol 3.0
	if _, err := c.Write(append(start, params...)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	if err := pgUntilReady(br); err != nil {
		return fmt.Errorf("startup: %w", err)
	}
	q := "SELECT 1\x00"
	msg := binary.BigEndian.AppendUint32([]byte{'Q'}, uint32(4+len(q)))
	if _, err := c.Write(append(msg, q...)); err != nil {
		return err
	}
	if err := pgUntilReady(br); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	_, err := c.Write([]byte{'X', 0, 0, 0, 4})
	return err
}

// pgUntilReady reads messages up to ReadyForQuery, failing on an error
// or an authentication request (the server must trust us).
func pgUntilReady(br *bufio.Reader) error {
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<20 {
			return fmt.Errorf("bad message length %d", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		switch hdr[0] {
		case 'Z':
			return nil
		case 'E':
			return errors.New("error response: " + string(body))
		case 'R':
			if n < 4 || binary.BigEndian.Uint32(body) != 0 {
				return errors.New("asked to authenticate")
			}
		}
	}
}
