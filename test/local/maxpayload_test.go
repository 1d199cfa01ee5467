//go:build linux

package local

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestTraceMaxPayloadBound: --max-payload at its 16 KiB bound captures a
// write of exactly 16384 bytes whole (its body kept to the byte with
// --body-limit 16384) and cuts one of 16385 bytes by one byte, counted
// once in the footer's truncated.
func TestTraceMaxPayloadBound(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	const capture = 16384
	post := func(size int) (req string, body int) {
		for body = size; ; body-- {
			req = fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", body)
			if len(req)+body == size {
				return req + strings.Repeat("p", body), body
			}
		}
	}
	tr := startTrace(t, append(pidArgs(selfPID(), srv.pid()), "--max-payload", "16384", "--body-limit", "16384", "--duration", "60s")...)
	var bodies []int
	for _, size := range []int{capture, capture + 1} {
		req, body := post(size)
		bodies = append(bodies, body)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Write([]byte(req)); err != nil || n != size {
			t.Fatalf("one write of %d bytes: %d %v", size, n, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST of %d bytes: %v %v", size, resp, err)
		}
		resp.Body.Close()
		c.Close()
	}
	recs := tr.stop(t)
	client := recs.byRole("client", selfPID())
	if len(client) != 2 {
		t.Fatalf("traced %d client-side requests, want 2", len(client))
	}
	for i, e := range client {
		t.Logf("write of %d bytes: req_body_size %d, %d body bytes kept", capture+i, e.ReqBodySize, len(e.ReqBody))
		if e.ReqBodySize != int64(bodies[i]) {
			t.Errorf("write of %d bytes: req_body_size %d, want %d", capture+i, e.ReqBodySize, bodies[i])
		}
	}
	if got := len(client[0].ReqBody); got != bodies[0] {
		t.Errorf("the 16384-byte write kept %d body bytes, want all %d", got, bodies[0])
	}
	if got := len(client[1].ReqBody); got != bodies[1]-1 {
		t.Errorf("the 16385-byte write kept %d body bytes, want %d (cut at the capture)", got, bodies[1]-1)
	}
	final := recs.stats[len(recs.stats)-1]
	if !final.Final || final.LostBy["truncated"] != 1 {
		t.Errorf("final probe_stats truncated %d, want 1 (the 16385-byte write): %+v", final.LostBy["truncated"], final)
	}
}

func selfPID() uint32 { return uint32(os.Getpid()) }
