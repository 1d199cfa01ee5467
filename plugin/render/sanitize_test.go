package render

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Status classes come from the wire (a SQLSTATE, a grpc-status name, a
// Kafka error), and so does every other key of a row: each must reach the
// terminal as visible text, in the table and wide, coloured or not.
func TestTraceEscapesStatusAndRole(t *testing.T) {
	lat := stats.NewSketch()
	lat.Add(1e6)
	var rows []stats.Endpoint
	for _, proto := range []string{vocab.ProtocolPgSQL, vocab.ProtocolGRPC, "", rendertest.Hostile} {
		rows = append(rows, stats.Endpoint{Key: stats.Key{Protocol: proto, Service: "svc", Role: rendertest.Hostile,
			Method: "QUERY", Path: "SELECT ?", StatusClass: rendertest.Short}, Count: 3, Errors: 3, Latency: lat})
	}
	for _, wide := range []bool{false, true} {
		for _, colour := range []bool{false, true} {
			out := string(TraceFrame(TraceView{Elapsed: time.Second, Rows: rows}, TraceOptions{Wide: wide, Palette: NewPalette(colour)}))
			rendertest.CheckSafe(t, "trace table", out)
			if !strings.Contains(out, `^[]52;c;SGk=^G^[[2J\u009bJ^H\r\n\tX`) {
				t.Errorf("wide=%v colour=%v: the status class is not shown escaped:\n%s", wide, colour, out)
			}
		}
	}
}

func TestSanitizeHostile(t *testing.T) {
	got := Sanitize(rendertest.Hostile)
	rendertest.CheckSafe(t, "Sanitize", got)
	want := `a^[]52;c;cHduZWQ=^G^[[2J\u009b31m\x9b^H\rz\nerror: forged\tcol`
	if got != want {
		t.Errorf("Sanitize(Hostile) = %q, want %q", got, want)
	}
}

// An error message keeps its lines (message, remedy) but nothing else.
func TestSanitizeLines(t *testing.T) {
	got := SanitizeLines("error: probe failed: " + rendertest.Short + "\n  remedy\n")
	if want := "error: probe failed: ^[]52;c;SGk=^G^[[2J\\u009bJ^H\\r\n  \\tX\n  remedy\n"; got != want {
		t.Errorf("SanitizeLines = %q, want %q", got, want)
	}
}
