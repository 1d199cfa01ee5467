// Command h2cpeer is a real HTTP/2 cleartext server for the --local h2c
// upgrade test: Go's net/http behind x/net's h2c handler, which accepts
// an HTTP/1.1 request asking to upgrade (Upgrade: h2c) and answers it on
// stream 1, then serves HTTP/2 streams on that connection.
//
//	h2cpeer 127.0.0.1:0   prints its address; on stdin EOF prints
//	                      {"METHOD path status": requests} as it served
//	                      them (an upgraded request, which the handler sees
//	                      as HTTP/1.1, also counts under "upgraded"), and
//	                      exits
//
// /ok answers "ok\n", /missing 404, /echo the request body, /big 3000 bytes (within the default capture of a call).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c" //nolint:staticcheck // the Upgrade: h2c path is what the test needs; net/http's own unencrypted HTTP/2 has no upgrade
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: h2cpeer ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	served := map[string]int{}
	count := func(r *http.Request, status int) {
		mu.Lock()
		defer mu.Unlock()
		if r.ProtoMajor != 2 {
			served["upgraded"]++
		}
		served[fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, status)]++
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		count(r, 200)
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		count(r, 404)
		http.NotFound(w, r)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		count(r, 200)
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		count(r, 200)
		io.WriteString(w, strings.Repeat("b", 3000))
	})
	srv := &http.Server{Handler: h2c.NewHandler(mux, &http2.Server{})}
	go srv.Serve(ln)
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	mu.Lock()
	defer mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(served)
}
