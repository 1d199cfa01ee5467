//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// kubelet is the one kubelet endpoint of every simulated node: it answers
// the API server's containerLogs requests (follow) by replaying the
// recording from the moment the pod was started, at the pace the real
// agent wrote it. A reader slower than that makes the replay fall behind
// (as a kubelet following a growing log file would); what was not written
// when the reader hung up counts as dropped.
type kubelet struct {
	rec *replayable
	srv *http.Server

	mu      sync.Mutex
	start   map[string]time.Time // pod -> when it was started
	written map[string]int       // pod -> records written (max over connections)
	lag     time.Duration        // worst lateness of a final record
	finals  int                  // streams that wrote their final record
	conns   int
}

func startKubelet(pki string) (*kubelet, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "kubelet-"+kubeletName+".crt"), filepath.Join(pki, "kubelet-"+kubeletName+".key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", kubeletPort))
	if err != nil {
		return nil, fmt.Errorf("the simulated kubelet's port: %w", err)
	}
	k := &kubelet{start: map[string]time.Time{}, written: map[string]int{}}
	k.srv = &http.Server{
		Handler: http.HandlerFunc(k.serve),
		// the API server authenticates with its kubelet client certificate
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert},
	}
	go func() { _ = k.srv.ServeTLS(ln, "", "") }()
	return k, nil
}

func (k *kubelet) stop() { _ = k.srv.Close() }

// reset starts a run of rec.
func (k *kubelet) reset(rec *replayable) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rec, k.start, k.written, k.lag, k.finals, k.conns = rec, map[string]time.Time{}, map[string]int{}, 0, 0, 0
}

func (k *kubelet) started(pod string, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.start[pod]; !ok {
		k.start[pod] = at
	}
}

// lastStart is when the last probe pod started.
func (k *kubelet) lastStart() (time.Time, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var last time.Time
	for _, t := range k.start {
		if t.After(last) {
			last = t
		}
	}
	return last, len(k.start)
}

// dropped counts the records of started pods that never reached a reader.
func (k *kubelet) dropped() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := 0
	for pod := range k.start {
		d += k.rec.records() - k.written[pod]
	}
	return d
}

// serve answers GET /containerLogs/NAMESPACE/POD/CONTAINER?follow=true
// (&timestamps=true: each line after the time it was written, RFC 3339).
func (k *kubelet) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "containerLogs" {
		http.Error(w, "the simulated kubelet serves containerLogs only", http.StatusNotFound)
		return
	}
	pod := parts[2]
	k.mu.Lock()
	start, ok := k.start[pod]
	rec := k.rec
	k.conns++
	k.mu.Unlock()
	if !ok {
		http.Error(w, "pod "+pod+" is not running here", http.StatusNotFound)
		return
	}
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	n := 0
	defer func() { k.wrote(pod, n) }()
	stamps := r.URL.Query().Get("timestamps") == "true"
	var ts []byte
	for n < len(rec.lines) {
		due := start.Add(rec.lines[n].at)
		if wait := time.Until(due); wait > 0 {
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(wait):
			}
		}
		// everything due by now, in one write: as a log file read behind
		for ; n < len(rec.lines) && !start.Add(rec.lines[n].at).After(time.Now()); n++ {
			if stamps {
				// the kubelet's: when the agent wrote the line
				ts = start.Add(rec.lines[n].at).UTC().AppendFormat(ts[:0], time.RFC3339Nano)
				ts = append(ts, ' ')
				if _, err := w.Write(ts); err != nil {
					return
				}
			}
			if _, err := w.Write(rec.lines[n].line); err != nil {
				return
			}
		}
	}
	fl.Flush()
	k.final(time.Since(start.Add(rec.end())))
}

func (k *kubelet) wrote(pod string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.written[pod] = max(k.written[pod], n)
}

func (k *kubelet) final(late time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.finals++
	k.lag = max(k.lag, late)
}
