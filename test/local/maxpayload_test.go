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
// --body-limit 16384), one of 16385 bytes whole too (its last byte is the
// call's tail, sent after the capture), and cuts one of 16384+64+1 bytes
// by one byte (past the 64-byte tail), counted once in the footer's
// truncated; the body is kept up to the bytes not captured.
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
	const tail = 64 // PX_TAIL
	sizes := []int{capture, capture + 1, capture + tail + 1}
	for _, size := range sizes {
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
	if len(client) != len(sizes) {
		t.Fatalf("traced %d client-side requests, want %d", len(client), len(sizes))
	}
	for i, e := range client {
		t.Logf("write of %d bytes: req_body_size %d, %d body bytes kept", sizes[i], e.ReqBodySize, len(e.ReqBody))
		if e.ReqBodySize != int64(bodies[i]) {
			t.Errorf("write of %d bytes: req_body_size %d, want %d", sizes[i], e.ReqBodySize, bodies[i])
		}
	}
	for i, want := range []int{bodies[0], bodies[1], bodies[2] - tail - 1} {
		if got := len(client[i].ReqBody); got != want {
			t.Errorf("the %d-byte write kept %d body bytes, want %d", sizes[i], got, want)
		}
	}
	final := recs.stats[len(recs.stats)-1]
	if !final.Final || final.LostBy["truncated"] != 1 {
		t.Errorf("final probe_stats truncated %d, want 1 (the %d-byte write): %+v", final.LostBy["truncated"], sizes[2], final)
	}
}

func selfPID() uint32 { return uint32(os.Getpid()) }
