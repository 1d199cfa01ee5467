package memview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// memRun is a finished view of summaries (PIDs change between runs).
func memRun(t *testing.T, sums ...api.MemorySummary) *View {
	t.Helper()
	v := New(Options{ErrOut: &bytes.Buffer{}})
	for i, s := range sums {
		s.Header = api.Header{Table: api.TableMemorySummary, V: 1}
		s.PID = uint32(100*len(sums) + i)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		v.Line("", b)
	}
	return v
}

func sum(comm, verdict string, rate, low, high float64, start, end uint64) api.MemorySummary {
	return api.MemorySummary{Comm: comm, Verdict: verdict, GrowthBytesPerSec: rate, GrowthLowBytesPerSec: low,
		GrowthHighBytesPerSec: high, StartRSSBytes: start, EndRSSBytes: end, PeakRSSBytes: end}
}

// A process whose growth left its BASE interval and turned into a leak is
// marked on both; one within its interval is not; processes of one name
// add up, with the fastest grower's verdict.
func TestCompareMemory(t *testing.T) {
	base := memRun(t, sum("api", "stable", 1e3, -2e3, 4e3, 100<<20, 100<<20),
		sum("worker", "stable", 0, -1e3, 1e3, 50<<20, 50<<20), sum("worker", "stable", 0, -1e3, 1e3, 50<<20, 50<<20),
		sum("cron", "stable", 0, -1e3, 1e3, 10<<20, 10<<20))
	next := memRun(t, sum("api", "leak", 2<<20, 1.9*(1<<20), 2.1*(1<<20), 100<<20, 700<<20),
		sum("worker", "stable", 500, -1e3, 2e3, 50<<20, 50<<20), sum("worker", "noisy", 0, -5e3, 5e3, 50<<20, 51<<20))
	d := Compare(base, next)
	d.Titles("base.pixie.gz", "new.pixie.gz")
	var table bytes.Buffer
	if err := d.WriteTable(&table, render.NewPalette(false)); err != nil {
		t.Fatal(err)
	}
	want := `BASE base.pixie.gz  NEW new.pixie.gz

PROCESS                       RATE                 RSS   VERDICT
api       +1000 B/s → +2.0 MiB/s *   100 MiB → 700 MiB   stable → leak *
worker            0 B/s → +500 B/s   100 MiB → 101 MiB   stable → stable
cron                     0 B/s → -          10 MiB → -   stable → -

2 changes marked * (rate: the 95% intervals of the growth rates do not overlap; verdict: changed)
`
	if table.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", table.String(), want)
	}
	r, err := gate.Parse(`rate_per_min > +100MiB && verdict == leak`, DiffGateSchema)
	if err != nil {
		t.Fatal(err)
	}
	if fired, why := r.Check(d.GateSource()); !fired || len(why) != 1 || !strings.HasPrefix(why[0], "api: rate_per_min ") {
		t.Errorf("gate: %v %q", fired, why)
	}
	var js bytes.Buffer
	if err := d.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"marked":["rate","verdict"]`) || !strings.Contains(js.String(), `"marked":[]`) {
		t.Errorf("json %v:\n%s", err, js.String())
	}
}
