package profileview

import (
	"io"
	"strings"
	"testing"
)

// Across nodes the summary names the worst node with its loss, CPU, RSS.
func TestSummaryNamesWorstNode(t *testing.T) {
	v := New(io.Discard, Options{Hz: 99, Nodes: 2})
	v.Line("n1", []byte(`{"table":"probe_stats","v":1,"probe":"profile","window_ns":10000000000,"events_captured":990,"user_cpu_ns":100000000,"peak_rss_bytes":20971520,"final":true}`))
	v.Line("n2", []byte(`{"table":"probe_stats","v":1,"probe":"profile","window_ns":10000000000,"events_captured":900,"events_lost":90,"user_cpu_ns":200000000,"peak_rss_bytes":31457280,"final":true}`))
	if want := "\nworst node n2: lost 90 events (9.1%) · probe CPU 2.0% · probe RSS 30 MiB"; !strings.HasSuffix(v.summary(), want) {
		t.Errorf("summary %q, want it to end %q", v.summary(), want)
	}
	one := New(io.Discard, Options{Hz: 99})
	one.Line("", []byte(`{"table":"probe_stats","v":1,"probe":"profile","window_ns":10000000000,"final":true}`))
	if strings.Contains(one.summary(), "worst node") {
		t.Errorf("a worst node of one: %q", one.summary())
	}
}
