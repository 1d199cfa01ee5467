//go:build linux

package socktrace

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
)

// helperHTTPS serves HTTP/1.1 over Go's crypto/tls (httptest's self-signed
// certificate) on addr and prints the bound address.
func helperHTTPS(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, helloBody)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.StartTLS()
	fmt.Println(ln.Addr().String())
	select {}
}

// helperHTTPSClient waits for a line on stdin, then GETs /hello and
// /missing over crypto/tls on one connection and prints the statuses.
func helperHTTPSClient(addr string) error {
	bufio.NewReader(os.Stdin).ReadString('\n')
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, path := range []string{"/hello", "/missing"} {
		r, err := c.Get("https://" + addr + path)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		fmt.Println(r.StatusCode)
	}
	return nil
}
