package render

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Samples from several nodes merge as one agent keeps them: the Keep
// slowest and the Keep latest errors per endpoint; --endpoint narrows
// them like the table; untrusted text is sanitized.
func TestSamplesMerge(t *testing.T) {
	s := NewSamples(2, int64(100*time.Millisecond), true)
	row := func(service, req string, latMs, at int64, status string) api.SampleRow {
		return api.SampleRow{Service: service, Endpoint: "GET " + req, Request: "GET " + req, LatencyNs: latMs * 1e6,
			TimeNs: time.Unix(at, 0).UnixNano(), Status: status, Error: status[0] == '5', PID: 7}
	}
	// Two nodes' slow lists for one endpoint, and another endpoint.
	for _, r := range []api.SampleRow{row("a", "/x", 150, 1, "200"), row("a", "/x", 400, 2, "200"), row("a", "/x", 300, 3, "200"),
		row("a", "/x", 120, 4, "200"), row("a", "/y\x1b[31m", 110, 5, "200")} {
		s.Add(api.SampleSlow, r)
	}
	for at := range int64(5) {
		s.Add(api.SampleError, row("a", "/x", 10, 10+at, "503"))
	}
	s.Add("bogus", row("a", "/z", 999, 1, "200"))
	requests := func(sel TraceSelect) []string {
		var got []string
		for _, l := range s.Lines(sel, false, 0, nil) {
			if f := strings.Fields(l); len(f) > 6 && f[1] == "a" {
				got = append(got, f[4]+" "+f[5]+" "+f[6])
			}
		}
		return got
	}
	want := []string{"/x 200 400ms", "/x 200 300ms", "/y^[[31m 200 110ms", "/x 503 10.0ms", "/x 503 10.0ms"}
	if got := requests(TraceSelect{}); !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if got := requests(TraceSelect{Endpoint: regexp.MustCompile(`/y`)}); len(got) != 1 {
		t.Errorf("--endpoint /y: rows %q, want the one of /y", got)
	}
	errs := s.errs[sampleKey{"a", "GET /x"}]
	if len(errs) != 2 || errs[0].TimeNs != time.Unix(14, 0).UnixNano() || errs[1].TimeNs != time.Unix(13, 0).UnixNano() {
		t.Errorf("errors kept %+v, want the latest two", errs)
	}
	if lines := NewSamples(5, 0, true).Lines(TraceSelect{}, false, 0, nil); !slices.Equal(lines, []string{"", "ERRORS (the latest 5 per endpoint)", "none"}) {
		t.Errorf("no errors: %q", lines)
	}
}
