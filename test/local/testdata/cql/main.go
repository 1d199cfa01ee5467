// The Cassandra peers of test/local (a module of its own, so the main
// module does not depend on gocql).
//
// No Cassandra server can be installed on the test machines (none in
// Debian, npm or the Go modules served there), so "server" is one written
// for these tests: it speaks the native protocol (v3 to v5, v5's frames
// in checksummed segments) and
// answers from a real data model, a small in-memory table store that
// executes the CQL it receives (CREATE KEYSPACE/TABLE, USE, INSERT,
// SELECT by key or all with LIMIT and paging, UPDATE, DELETE, BATCH,
// prepared statements; consistency levels checked against the keyspace's
// replication factor on one node). Nothing is canned: a result is what
// the statements executed so far left in the store.
//
//	cqlpeer server [auth]    serves on 127.0.0.1 (the port on stdout) until
//	                         stdin closes, then prints what it handled; auth:
//	                         user cassandra, password hunter2
//	cqlpeer client ADDR N    drives it with gocql; prints what it did
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	var err error
	switch {
	case len(os.Args) >= 2 && os.Args[1] == "server":
		err = runServer(len(os.Args) == 3 && os.Args[2] == "auth")
	case len(os.Args) == 4 && os.Args[1] == "client":
		n, _ := strconv.Atoi(os.Args[3])
		err = runClient(os.Args[2], n)
	default:
		err = fmt.Errorf("usage: cqlpeer server | cqlpeer client ADDR N")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cqlpeer:", err)
		os.Exit(1)
	}
}

// serverReport is what the server handled: requests by opcode, errors
// by code.
type serverReport struct {
	Requests map[int]int `json:"requests"`
	Errors   map[int]int `json:"errors"`
	Events   int         `json:"events"` // EVENTs pushed
}

func runServer(auth bool) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := &server{store: newStore(net.IPv4(127, 0, 0, 1)), auth: auth, prepared: map[string]string{}, counts: map[int]int{},
		errs: map[int]int{}, registered: map[*connState]byte{}}
	go s.serve(l)
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
	}
	l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(os.Stdout).Encode(serverReport{Requests: s.counts, Errors: s.errs, Events: s.events})
}
