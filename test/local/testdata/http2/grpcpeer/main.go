// Command grpcpeer is a real grpc-go server or client for the --local
// HTTP/2 tests. The service is declared by hand with a raw-bytes codec,
// so no generated code is needed.
//
//	grpcpeer server 127.0.0.1:0        prints its address; on stdin EOF
//	                                   prints {"method code": calls} and exits
//	grpcpeer client ADDR say fail14 fail5 count nope
//	                                   makes that many calls (concurrently) and
//	                                   prints {"method code": calls} as it saw them
//	grpcpeer timed ADDR N              after a line on stdin, N unary Say calls one
//	                                   after the other, each timed at the connection
//	                                   (stampconn); prints {"port":P,"lat":[ns...]}
//	                                   and waits for stdin to close
//
// With GRPCPEER_CERT and GRPCPEER_KEY the server speaks TLS; with
// GRPCPEER_CA the client does (trusting that certificate).
// GRPCPEER_DELAY (a duration) makes the client wait before it dials;
// GRPCPEER_SAY_BYTES sets the size of the Say messages (default 5);
// GRPCPEER_PARALLEL how many calls run at once after the first (default 8);
// GRPCPEER_WARMUP runs the plan once, prints "warm" and waits for a line
// on stdin before the plan whose counts it prints.
// GRPCPEER_SECRET plants a secret in every field a user could put one:
// the client's Say messages (SECRET+"body", echoed back) and metadata
// (x-upstream-key: SECRET+"meta"), the server's grpc-message of Fail
// (SECRET+"msg").
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kubectl-pixie/kubectl-pixie/test/internal/stampconn"
)

const service = "pixie.test.Echo"

// rawCodec sends *[]byte as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // content-type application/grpc+proto

var desc = grpc.ServiceDesc{
	ServiceName: service,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Say", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) { return req, nil }
			return ic(ctx, &in, &grpc.UnaryServerInfo{FullMethod: "/" + service + "/Say"}, h)
		}},
		{MethodName: "Fail", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				n, _ := strconv.Atoi(string(*req.(*[]byte)))
				if secret := os.Getenv("GRPCPEER_SECRET"); secret != "" {
					return nil, status.Error(codes.Code(n), "failing on purpose for "+secret+"msg")
				}
				return nil, status.Error(codes.Code(n), "failing on purpose")
			}
			return ic(ctx, &in, &grpc.UnaryServerInfo{FullMethod: "/" + service + "/Fail"}, h)
		}},
	},
	Streams: []grpc.StreamDesc{{StreamName: "Count", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
		var in []byte
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		for i := range 3 {
			b := []byte("message " + strconv.Itoa(i))
			if err := ss.SendMsg(&b); err != nil {
				return err
			}
		}
		return nil
	}}},
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: grpcpeer server|client ADDR ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		server(os.Args[2])
	case "client":
		client(os.Args[2], os.Args[3:])
	case "timed":
		timed(os.Args[2], os.Args[3])
	}
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[fmt.Sprintf("%s %d", method, status.Code(err))]++
}

func (c *counts) print() {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(c.m)
	fmt.Println(string(b))
}

func server(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	seen := &counts{m: map[string]int{}}
	opts := []grpc.ServerOption{grpc.ForceServerCodec(rawCodec{})}
	if cert := os.Getenv("GRPCPEER_CERT"); cert != "" {
		creds, err := credentials.NewServerTLSFromFile(cert, os.Getenv("GRPCPEER_KEY"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(append(opts,
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			seen.add(info.FullMethod, err)
			return resp, err
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			err := h(srv, ss)
			seen.add(info.FullMethod, err)
			return err
		}))...)
	s.RegisterService(&desc, struct{}{})
	fmt.Println(ln.Addr().String())
	go s.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	s.GracefulStop()
	seen.print()
}

func client(addr string, plan []string) {
	n := func(i int) int {
		if i >= len(plan) {
			return 0
		}
		v, _ := strconv.Atoi(plan[i])
		return v
	}
	if d, err := time.ParseDuration(os.Getenv("GRPCPEER_DELAY")); err == nil {
		time.Sleep(d)
	}
	creds := insecure.NewCredentials()
	if ca := os.Getenv("GRPCPEER_CA"); ca != "" {
		var err error
		if creds, err = credentials.NewClientTLSFromFile(ca, ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type job struct{ method, body string }
	var jobs []job
	say := "hello"
	if size, err := strconv.Atoi(os.Getenv("GRPCPEER_SAY_BYTES")); err == nil {
		say = strings.Repeat("s", size)
	}
	if secret := os.Getenv("GRPCPEER_SECRET"); secret != "" {
		say = secret + "body"
		ctx = metadata.AppendToOutgoingContext(ctx, "x-upstream-key", secret+"meta")
	}
	for range n(0) {
		jobs = append(jobs, job{"/" + service + "/Say", say})
	}
	for range n(1) {
		jobs = append(jobs, job{"/" + service + "/Fail", "14"})
	}
	for range n(2) {
		jobs = append(jobs, job{"/" + service + "/Fail", "5"})
	}
	for range n(3) {
		jobs = append(jobs, job{"/" + service + "/Count", ""})
	}
	for range n(4) {
		jobs = append(jobs, job{"/" + service + "/Nope", "x"})
	}
	run := func(seen *counts) {
		call := func(j job) {
			if j.method == "/"+service+"/Count" {
				seen.add(j.method, count(ctx, cc, j.method))
				return
			}
			in, out := []byte(j.body), []byte(nil)
			seen.add(j.method, cc.Invoke(ctx, j.method, &in, &out))
		}
		// The first call opens the connection; the rest run 8 at a
		// time (GRPCPEER_PARALLEL), so their streams interleave on it.
		if len(jobs) > 0 {
			call(jobs[0])
		}
		parallel := 8
		if p, err := strconv.Atoi(os.Getenv("GRPCPEER_PARALLEL")); err == nil && p > 0 {
			parallel = p
		}
		ch := make(chan job)
		var wg sync.WaitGroup
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range ch {
					call(j)
				}
			}()
		}
		for _, j := range jobs[min(1, len(jobs)):] {
			ch <- j
		}
		close(ch)
		wg.Wait()
	}
	if os.Getenv("GRPCPEER_WARMUP") != "" {
		// The plan once on the connection, then wait for a line: a
		// trace started now finds the connection (and its HPACK
		// tables) in use.
		run(&counts{m: map[string]int{}})
		fmt.Println("warm")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	seen := &counts{m: map[string]int{}}
	run(seen)
	seen.print()
}

// timed makes n Say calls one after the other on one connection, timing
// each at the connection: from the first write of its frames to the last
// read before the call returned.
func timed(addr, nArg string) {
	n, _ := strconv.Atoi(nArg)
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\n')
	var sc *stampconn.Conn
	var port int
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			port = c.LocalAddr().(*net.TCPAddr).Port
			sc = stampconn.New(c)
			return sc, nil
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc.Connect()
	for st := cc.GetState(); st != connectivity.Ready; st = cc.GetState() {
		if !cc.WaitForStateChange(ctx, st) {
			fmt.Fprintln(os.Stderr, "not connected:", st)
			os.Exit(1)
		}
	}
	var lat []int64
	for i := range n {
		sc.Arm()
		msg, out := []byte("hello"), []byte(nil)
		if err := cc.Invoke(ctx, "/"+service+"/Say", &msg, &out); err != nil {
			fmt.Fprintln(os.Stderr, "call", i, err)
			os.Exit(1)
		}
		lat = append(lat, sc.Span().Nanoseconds())
	}
	b, _ := json.Marshal(map[string]any{"port": port, "lat": lat})
	fmt.Println(string(b))
	io.Copy(io.Discard, in)
}

// count calls the server-streaming method and reads every message.
func count(ctx context.Context, cc *grpc.ClientConn, method string) error {
	st, err := cc.NewStream(ctx, &desc.Streams[0], method)
	if err != nil {
		return err
	}
	in := []byte("go")
	if err := st.SendMsg(&in); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	for got := 0; ; got++ {
		var out []byte
		if err := st.RecvMsg(&out); err == io.EOF {
			if got != 3 {
				return status.Errorf(codes.DataLoss, "got %d messages", got)
			}
			return nil
		} else if err != nil {
			return err
		}
	}
}
