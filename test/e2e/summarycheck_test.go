package e2e

// No build tag: the e2e tests use these checks on a real cluster's output,
// and `go test ./test/e2e/` (make test) unit-tests them without one.

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// rankQuantile is the q-quantile (0 <= q <= 1) of the values as the
// sketch states its error bound (stats.Sketch.Quantile): the value of
// 0-based rank floor(q*(n-1)) in sorted order. That is not nearest-rank
// (1-based rank ceil(q*n)): of 20 values nearest-rank's p99 is the
// largest, the sketch's the second largest; checked against nearest-rank,
// a correct sketch fails whenever the two differ by more than 1%.
func rankQuantile(values []int64, q float64) int64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return sorted[int(q*float64(len(sorted)-1))]
}

// checkSummary compares an http_summary row with the latencies of the
// per-request records it summarises: the count and the maximum are exact,
// p50, p90 and p99 within the sketch's relative accuracy of rankQuantile
// (plus 1 ns: the summary truncates to whole nanoseconds). nil when all
// hold, else every failure in one error.
func checkSummary(s api.HTTPSummary, latencies []int64) error {
	var errs []error
	if s.Count != uint64(len(latencies)) {
		errs = append(errs, fmt.Errorf("count %d, the records %d", s.Count, len(latencies)))
	}
	if len(latencies) > 0 {
		if want := slices.Max(latencies); s.LatencyMax != want {
			errs = append(errs, fmt.Errorf("max %d ns, the records' %d ns", s.LatencyMax, want))
		}
	}
	for _, p := range []struct {
		name string
		q    float64
		got  int64
	}{{"p50", 0.5, s.LatencyP50}, {"p90", 0.9, s.LatencyP90}, {"p99", 0.99, s.LatencyP99}} {
		want := rankQuantile(latencies, p.q)
		bound := stats.DefaultRelativeAccuracy*float64(want) + 1
		if d := math.Abs(float64(p.got - want)); d > bound {
			errs = append(errs, fmt.Errorf("%s %d ns, the records' %d ns: off by %.0f ns, more than the sketch's %g%% (%.0f ns)",
				p.name, p.got, want, d, 100*stats.DefaultRelativeAccuracy, bound))
		}
	}
	return errors.Join(errs...)
}
