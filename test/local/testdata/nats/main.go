// The NATS client of test/local (a module of its own, so the main module
// does not depend on nats.go): two connections to a real nats-server, one
// publishing and requesting, one subscribing and responding. It prints
// what it did and what nats.go counted, as JSON.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

type report struct {
	Published    int `json:"published"`     // Publish and PublishMsg calls (headers: HPUB)
	Requests     int `json:"requests"`      // answered by the responder
	NoResponders int `json:"no_responders"` // requests nobody could answer
	Denied       int `json:"denied"`        // publishes the server refused (async -ERR)
	Received     int `json:"received"`      // deliveries on orders.*
	Subscribed   int `json:"subscribed"`    // Subscribe calls
	Unsubscribed int `json:"unsubscribed"`  // Unsubscribe calls
	// What nats.go counted, per connection: messages out and in.
	PubOut, PubIn, SubOut, SubIn uint64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nclient:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 7 {
		return errors.New("usage: nclient URL USER PASS PUBLISHES REQUESTS DENIED")
	}
	url, user, pass := os.Args[1], os.Args[2], os.Args[3]
	n, _ := strconv.Atoi(os.Args[4])
	m, _ := strconv.Atoi(os.Args[5])
	d, _ := strconv.Atoi(os.Args[6])
	var rep report
	var denied, received atomic.Int64
	onErr := func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			denied.Add(1)
		}
	}
	pub, err := nats.Connect(url, nats.UserInfo(user, pass), nats.Name("pixie-pub"), nats.ErrorHandler(onErr))
	if err != nil {
		return err
	}
	sub, err := nats.Connect(url, nats.UserInfo(user, pass), nats.Name("pixie-sub"))
	if err != nil {
		return err
	}
	if _, err := sub.Subscribe("orders.*", func(*nats.Msg) { received.Add(1) }); err != nil {
		return err
	}
	if _, err := sub.QueueSubscribe("svc.add", "workers", func(msg *nats.Msg) { _ = msg.Respond([]byte("3")) }); err != nil {
		return err
	}
	tmp, err := sub.SubscribeSync("tmp.x")
	if err != nil {
		return err
	}
	rep.Subscribed = 3
	if err := tmp.Unsubscribe(); err != nil {
		return err
	}
	rep.Unsubscribed = 1
	if err := sub.Flush(); err != nil {
		return err
	}
	// A flush every 20 messages keeps each write (the client's and the
	// server's deliveries) within the trace's capture of a call: messages
	// in the uncaptured middle of a longer write cannot be read.
	for i := range n {
		if err := pub.Publish("orders."+strconv.Itoa(i), []byte(`{"id":`+strconv.Itoa(i)+`}`)); err != nil {
			return err
		}
		if i%20 == 19 {
			if err := pub.Flush(); err != nil {
				return err
			}
		}
	}
	h := nats.Header{}
	h.Set("X-Trace", "abc")
	if err := pub.PublishMsg(&nats.Msg{Subject: "orders.h", Header: h, Data: []byte("with headers")}); err != nil {
		return err
	}
	rep.Published = n + 1
	if err := pub.Flush(); err != nil {
		return err
	}
	for i := 0; received.Load() < int64(n+1); i++ {
		if i == 500 {
			return fmt.Errorf("received %d of %d", received.Load(), n+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range m {
		msg, err := pub.Request("svc.add", []byte("1 2"), 5*time.Second)
		if err != nil || string(msg.Data) != "3" {
			return fmt.Errorf("request: %v", err)
		}
		rep.Requests++
	}
	for range 3 {
		if _, err := pub.Request("svc.none", []byte("?"), 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("request to nobody: %v", err)
		}
		rep.NoResponders++
	}
	for range d {
		if err := pub.Publish("secret.x", []byte("no")); err != nil {
			return err
		}
	}
	for i := 0; denied.Load() < int64(d); i++ {
		if i == 500 {
			return fmt.Errorf("denied %d of %d", denied.Load(), d)
		}
		_ = pub.Flush()
		time.Sleep(10 * time.Millisecond)
	}
	rep.Denied = int(denied.Load())
	rep.Received = int(received.Load())
	ps, ss := pub.Stats(), sub.Stats()
	rep.PubOut, rep.PubIn, rep.SubOut, rep.SubIn = ps.OutMsgs, ps.InMsgs, ss.OutMsgs, ss.InMsgs
	pub.Close()
	sub.Close()
	return json.NewEncoder(os.Stdout).Encode(rep)
}
