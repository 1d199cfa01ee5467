package redact

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

func TestPath(t *testing.T) {
	for _, c := range []struct {
		in, restricted, none string
	}{
		{"/reset?token=s3cr3t&api_key=k", "/reset?token=<redacted 6 bytes>&api_key=<redacted 1 bytes>", "/reset"},
		{"/u/12345/avatar", "/u/{id}/avatar", "/u/{id}/avatar"},
		{"/u/3f2b8c1e-1111-2222-3333-444455556666/a", "/u/{uuid}/a", "/u/{uuid}/a"},
		{"/mail/alice@example.com?x=1", "/mail/{email}?x=<redacted 1 bytes>", "/mail/{email}"},
		{"/t/k9Qz7XvB2mLp4RtY8wNs/reset", "/t/{id}/reset", "/t/{id}/reset"},
		{"/x?", "/x", "/x"},
		{"/x?a=&b", "/x?a=&<redacted 1 bytes>", "/x"},
		{"/x?%3Csecret%3E=1", "/x?<redacted 14 bytes>", "/x"},
		{"/x?q=1#frag", "/x?q=<redacted 1 bytes>", "/x"},
		{"http://user:pw@h/p?q=1", "/p?q=<redacted 1 bytes>", "/p"},
		{"/x?" + strings.Repeat("a=1&", 40), "/x?" + strings.Repeat("a=<redacted 1 bytes>&", 32) + "…", "/x"},
	} {
		if got := Path(c.in, api.DataAccessRestricted); got != c.restricted {
			t.Errorf("restricted %q = %q, want %q", c.in, got, c.restricted)
		}
		if got := Path(c.in, api.DataAccessNone); got != c.none {
			t.Errorf("none %q = %q, want %q", c.in, got, c.none)
		}
		if got := Path(c.in, api.DataAccessFull); got != c.in {
			t.Errorf("full %q = %q", c.in, got)
		}
		// The table templates the redacted path: it must land on the
		// same endpoint as the raw one.
		for _, a := range []api.DataAccess{api.DataAccessRestricted, api.DataAccessNone} {
			if got, want := stats.Template(Path(c.in, a)), stats.Template(c.in); got != want {
				t.Errorf("%s %q: endpoint %q, raw path's %q", a, c.in, got, want)
			}
		}
	}
}

func sample() *api.HTTPEvent {
	return &api.HTTPEvent{
		ReqMethod: "POST", ReqPath: "/login?next=/home",
		ReqHeaders: map[string]string{
			"Host": "h", "Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en",
			"Authorization": "Bearer abc", "X-Upstream-Key": "k3y", "Location": "/x?code=1",
		},
		ReqBody: "user=alice&password=pw", ReqBodySize: 22,
		RespStatus: 200, RespMessage: "OK",
		RespHeaders: map[string]string{"Set-Cookie": "s=1", "Content-Length": "2"},
		RespBody:    "{}", RespBodySize: 2,
	}
}

func TestHTTP(t *testing.T) {
	ev := sample()
	HTTP(ev, api.DataAccessFull)
	if d := cmp.Diff(sample(), ev); d != "" {
		t.Errorf("full changed the record:\n%s", d)
	}

	ev = sample()
	HTTP(ev, api.DataAccessRestricted)
	want := sample()
	want.ReqPath = "/login?next=<redacted 5 bytes>"
	want.ReqHeaders["Authorization"] = "<redacted 10 bytes>"
	want.ReqHeaders["X-Upstream-Key"] = "<redacted 3 bytes>"
	want.ReqHeaders["Location"] = "<redacted 9 bytes>"
	want.RespHeaders["Set-Cookie"] = "<redacted 3 bytes>"
	want.ReqBody, want.RespBody = "<redacted 22 bytes>", "<redacted 2 bytes>"
	if d := cmp.Diff(want, ev); d != "" {
		t.Errorf("restricted (-want +got):\n%s", d)
	}

	ev = sample()
	HTTP(ev, api.DataAccessNone)
	want = &api.HTTPEvent{ReqMethod: "POST", ReqPath: "/login", ReqBodySize: 22, RespStatus: 200, RespBodySize: 2}
	if d := cmp.Diff(want, ev); d != "" {
		t.Errorf("none (-want +got):\n%s", d)
	}
}

func TestGRPC(t *testing.T) {
	ev := &api.HTTPEvent{Protocol: vocab.ProtocolGRPC, ReqPath: "/pkg.Svc/Get", RespMessage: "user alice not found",
		RespHeaders: map[string]string{"grpc-status": "5", "grpc-message": "user alice not found"}}
	HTTP(ev, api.DataAccessRestricted)
	if ev.ReqPath != "/pkg.Svc/Get" || ev.RespMessage != "<redacted 20 bytes>" ||
		ev.RespHeaders["grpc-status"] != "5" || ev.RespHeaders["grpc-message"] != "<redacted 20 bytes>" {
		t.Errorf("%+v", ev)
	}
}

// FuzzPath: any request target gives a restricted path that holds none of
// the query's values and lands on the raw target's endpoint.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/reset?token=abc&x", "/a/12/b?%00=1#f", "http://u:p@h/x?y=z", "*", "?", "/?&&=&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := Path(target, api.DataAccessRestricted)
		if stats.Template(got) != stats.Template(target) {
			t.Fatalf("Path(%q) = %q: endpoint %q, raw %q", target, got, stats.Template(got), stats.Template(target))
		}
		if i := strings.IndexByte(got, '?'); i >= 0 {
			for _, p := range strings.Split(got[i+1:], "&") {
				name, value, _ := strings.Cut(p, "=")
				if p != "" && !strings.HasPrefix(name, "<redacted ") && !paramName(name) && name != "…" {
					t.Fatalf("Path(%q) = %q keeps %q", target, got, name)
				}
				if value != "" && !strings.HasPrefix(value, "<redacted ") {
					t.Fatalf("Path(%q) = %q keeps the value %q", target, got, value)
				}
			}
		}
	})
}

// keptHeader is asked for every header of every -o json record: it folds
// case without allocating, and names longer than its buffer still work.
func TestKeptHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Content-Type": true, "CONTENT-LENGTH": true, "host": true, "Accept-Ranges": true, "accept": true,
		"Grpc-Accept-Encoding": true, "Authorization": false, "Cookie": false, "ETag": false, "": false,
		"Accept-" + strings.Repeat("x", 40): true, // past the buffer: lower-cased the slow way
		"X-" + strings.Repeat("y", 40):      false,
	} {
		if got := keptHeader(name); got != want {
			t.Errorf("keptHeader(%q) = %v, want %v", name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { keptHeader("Last-Modified") }); n != 0 {
		t.Errorf("keptHeader allocates %v times per call, want 0", n)
	}
}
