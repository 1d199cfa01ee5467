package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// httpEventWire is http_events' column order written as a struct: the
// reference AppendJSON must match byte for byte.
type httpEventWire struct {
	Header
	Time         int64             `json:"time_"`
	PID          uint32            `json:"pid"`
	Comm         string            `json:"comm"`
	LocalAddr    string            `json:"local_addr"`
	LocalPort    uint16            `json:"local_port"`
	RemoteAddr   string            `json:"remote_addr"`
	RemotePort   uint16            `json:"remote_port"`
	TraceRole    string            `json:"trace_role"`
	MajorVersion int               `json:"major_version"`
	MinorVersion int               `json:"minor_version"`
	ReqMethod    string            `json:"req_method"`
	ReqPath      string            `json:"req_path"`
	ReqHeaders   map[string]string `json:"req_headers"`
	ReqBody      string            `json:"req_body"`
	ReqBodySize  int64             `json:"req_body_size"`
	RespStatus   int               `json:"resp_status"`
	RespMessage  string            `json:"resp_message"`
	RespHeaders  map[string]string `json:"resp_headers"`
	RespBody     string            `json:"resp_body"`
	RespBodySize int64             `json:"resp_body_size"`
	Latency      int64             `json:"latency"`
	ContainerID  string            `json:"container_id,omitempty"`
	PodUID       string            `json:"pod_uid,omitempty"`
	RemoteDNS    string            `json:"remote_dns,omitempty"`
	Protocol     string            `json:"protocol,omitempty"`
	GRPCStatus   string            `json:"grpc_status,omitempty"`
}

// reference encodes e with encoding/json through httpEventWire, without
// HTML escaping, as the agent's encoder did before AppendJSON.
func reference(t testing.TB, e *HTTPEvent) []byte {
	c := &e.ConnColumns
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(httpEventWire{
		Header: e.Header, Time: c.Time, PID: c.PID, Comm: c.Comm,
		LocalAddr: c.LocalAddr, LocalPort: c.LocalPort, RemoteAddr: c.RemoteAddr, RemotePort: c.RemotePort,
		TraceRole: c.TraceRole, MajorVersion: e.MajorVersion, MinorVersion: e.MinorVersion,
		ReqMethod: e.ReqMethod, ReqPath: e.ReqPath, ReqHeaders: e.ReqHeaders, ReqBody: e.ReqBody, ReqBodySize: e.ReqBodySize,
		RespStatus: e.RespStatus, RespMessage: e.RespMessage, RespHeaders: e.RespHeaders, RespBody: e.RespBody,
		RespBodySize: e.RespBodySize, Latency: c.Latency, ContainerID: c.ContainerID, PodUID: c.PodUID,
		RemoteDNS: c.RemoteDNS, Protocol: e.Protocol, GRPCStatus: e.GRPCStatus,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// hardStrings are what JSON string encoding can get wrong.
var hardStrings = []string{
	"", "plain", `q"uote`, `back\slash`, "<html>&", "\x00\x01\x08\x0c\n\r\t\x1f\x7f",
	"é ü 日本", "\u2028\u2029", "bad \xff\xfe utf8", "trunc \xe6\x97", "\xed\xa0\x80", "<redacted 17 bytes>",
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for i, s := range hardStrings {
		e := &HTTPEvent{
			Header:      Header{Table: TableHTTPEvents, V: Version, Seq: uint64(i), Node: s},
			ConnColumns: ConnColumns{Time: -1, PID: 4294967295, Comm: s, LocalAddr: s, LocalPort: 65535, RemoteAddr: "::1", TraceRole: "server", Latency: 9, ContainerID: s, RemoteDNS: s},
			ReqMethod:   "GET", ReqPath: s, ReqHeaders: map[string]string{s: s, "z": "1", "a": s}, ReqBody: s,
			RespStatus: 200, RespMessage: s, RespBody: s, RespBodySize: -3, Protocol: s, GRPCStatus: s,
		}
		if i%2 == 1 {
			e.RespHeaders = map[string]string{}
			e.Sample = s
			e.SampleRow = &SampleRow{TimeNs: 1, Service: s, PID: 2, Peer: s, Endpoint: s, Request: s, Status: "503", Error: true, LatencyNs: 3}
		}
		if got, want := e.AppendJSON(nil), reference(t, e); !bytes.Equal(got, want) {
			t.Errorf("string %q:\n got %s\nwant %s", s, got, want)
		}
	}
}

// Every column of Header is written by appendHeader: a new one fails here
// until it is (the values differ from their zero values, so each shows).
func TestAppendJSONHeaderColumns(t *testing.T) {
	h := Header{Table: "t", V: 1, Seq: 2, Node: "n", Sample: SampleSlow, SampleRow: &SampleRow{Service: "s"},
		Obs: &stats.Observation{Service: "s\"<", Role: "server", Method: "GET", Path: "/a", Peer: "p", PeerDNS: "d", Status: 503,
			LatencyNs: 3, ReqBytes: 4, RespBytes: 5, TimeNs: 6, Protocol: "redis", Class: "ERR"}}
	if n := reflect.TypeFor[Header]().NumField(); n != 7 {
		t.Fatalf("Header has %d columns, this test and appendHeader know 7: add the new one to both", n)
	}
	if n := reflect.TypeFor[stats.Observation]().NumField(); n != 13 {
		t.Fatalf("Observation has %d fields, appendObs knows 13: add the new one to it and here", n)
	}
	e := &HTTPEvent{Header: h}
	if got, want := e.AppendJSON(nil), reference(t, e); !bytes.Equal(got, want) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	for _, col := range []string{`"table":`, `"v":`, `"seq":`, `"node":`, `"sample":`, `"sample_row":`, `"obs":`} {
		if !bytes.Contains(e.AppendJSON(nil), []byte(col)) {
			t.Errorf("no %s column", col)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range hardStrings {
		f.Add(s, s, 200)
	}
	f.Fuzz(func(t *testing.T, path, hv string, status int) {
		e := &HTTPEvent{Header: Header{Table: TableHTTPEvents}, ReqPath: path, ReqHeaders: map[string]string{hv: path}, RespBody: hv, RespStatus: status}
		if got, want := e.AppendJSON(nil), reference(t, e); !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
}

// benchEvent is an -o json record of a typical GET in restricted mode.
func benchEvent() *HTTPEvent {
	return &HTTPEvent{
		Header:       Header{Table: TableHTTPEvents, V: Version, Seq: 123456},
		ConnColumns:  ConnColumns{Time: 1765000000123456789, PID: 4242, Comm: "nginx", LocalAddr: "127.0.0.1", LocalPort: 8080, RemoteAddr: "127.0.0.1", RemotePort: 51234, TraceRole: "server", Latency: 48213},
		MajorVersion: 1, MinorVersion: 1, ReqMethod: "GET", ReqPath: "/index.html",
		ReqHeaders: map[string]string{"Host": "bench", "User-Agent": "<redacted 10 bytes>", "Accept": "*/*"},
		RespStatus: 200, RespMessage: "OK", RespBodySize: 17, RespBody: "<redacted 17 bytes>",
		RespHeaders: map[string]string{"Server": "nginx/1.22.1", "Content-Type": "text/html", "Content-Length": "17", "Date": "<redacted 29 bytes>"},
	}
}

// BenchmarkHTTPEventJSON: the -o json cost of one record, through the
// agent's path (AppendJSON into a reused buffer) and through an encoder
// (MarshalJSON, as json.Marshal callers get it).
func BenchmarkHTTPEventJSON(b *testing.B) {
	e := benchEvent()
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = e.AppendJSON(buf[:0])
		}
	})
	b.Run("Encoder", func(b *testing.B) {
		b.ReportAllocs()
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			out.Reset()
			if err := enc.Encode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("before: wire struct copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = reference(b, e)
		}
	})
}
