package render

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// maxSampleEndpoints bounds the endpoints Samples holds, whatever the
// nodes send: each agent's samples are bounded, their number of nodes too,
// but a reader trusts no stream.
const maxSampleEndpoints = 10000

// Samples are the requests behind the numbers (--slow, --errors): the
// agents' samples of every node merged, each endpoint keeping the Keep
// slowest and the Keep latest errors, as each agent does.
type Samples struct {
	Keep   int   // per endpoint and kind
	SlowNs int64 // the --slow threshold, for the title; 0: no slow list
	Errors bool  // --errors: an error list, even when empty
	slow   map[sampleKey][]api.SampleRow
	errs   map[sampleKey][]api.SampleRow
}

type sampleKey struct{ service, endpoint string }

// NewSamples keeps keep samples of each kind per endpoint.
func NewSamples(keep int, slowNs int64, errors bool) *Samples {
	return &Samples{Keep: max(keep, 1), SlowNs: slowNs, Errors: errors,
		slow: map[sampleKey][]api.SampleRow{}, errs: map[sampleKey][]api.SampleRow{}}
}

// Add merges one sample of kind (api.SampleSlow or api.SampleError);
// other kinds are ignored.
func (s *Samples) Add(kind string, r api.SampleRow) {
	k := sampleKey{r.Service, r.Endpoint}
	switch kind {
	case api.SampleSlow:
		s.slow[k] = s.keepTop(s.slow, k, r, func(a, b api.SampleRow) int { return cmp.Compare(b.LatencyNs, a.LatencyNs) })
	case api.SampleError:
		s.errs[k] = s.keepTop(s.errs, k, r, func(a, b api.SampleRow) int { return cmp.Compare(b.TimeNs, a.TimeNs) })
	}
}

// keepTop adds r to m[k] and keeps the first Keep in order.
func (s *Samples) keepTop(m map[sampleKey][]api.SampleRow, k sampleKey, r api.SampleRow, order func(a, b api.SampleRow) int) []api.SampleRow {
	list, ok := m[k]
	if !ok && len(m) >= maxSampleEndpoints {
		return nil
	}
	list = append(list, r)
	slices.SortStableFunc(list, order)
	return list[:min(len(list), s.Keep)]
}

// Lines renders the sections: the slowest requests, slowest first, then
// the latest errors in time order, of the endpoints sel keeps.
func (s *Samples) Lines(sel TraceSelect, wide bool, width int, p *Palette) []string {
	if s == nil {
		return nil
	}
	var lines []string
	if s.SlowNs > 0 {
		rows := s.rows(s.slow, sel, func(a, b api.SampleRow) int { return cmp.Compare(b.LatencyNs, a.LatencyNs) })
		title := fmt.Sprintf("SLOWEST (≥ %s; up to %d per endpoint)", FormatLatency(float64(s.SlowNs)), s.Keep)
		lines = append(lines, s.section(title, rows, wide, width, p)...)
	}
	if s.Errors {
		rows := s.rows(s.errs, sel, func(a, b api.SampleRow) int { return cmp.Compare(a.TimeNs, b.TimeNs) })
		title := fmt.Sprintf("ERRORS (the latest %d per endpoint)", s.Keep)
		lines = append(lines, s.section(title, rows, wide, width, p)...)
	}
	return lines
}

func (s *Samples) rows(m map[sampleKey][]api.SampleRow, sel TraceSelect, order func(a, b api.SampleRow) int) []api.SampleRow {
	var rows []api.SampleRow
	for k, list := range m {
		if sel.Endpoint == nil || sel.Endpoint.MatchString(k.endpoint) {
			rows = append(rows, list...)
		}
	}
	slices.SortFunc(rows, func(a, b api.SampleRow) int {
		return cmp.Or(order(a, b), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Request, b.Request), cmp.Compare(a.TimeNs, b.TimeNs))
	})
	return rows
}

func (s *Samples) section(title string, rows []api.SampleRow, wide bool, width int, p *Palette) []string {
	lines := []string{"", p.Bold(title)}
	if len(rows) == 0 {
		return append(lines, p.Dim("none"))
	}
	cols := []Column{{Title: "TIME"}, {Title: "SERVICE"}, {Title: "PID", Right: true}}
	if wide {
		cols = append(cols, Column{Title: "PEER"})
	}
	cols = append(cols, Column{Title: "REQUEST"}, Column{Title: "STATUS"}, Column{Title: "LATENCY", Right: true}, Column{Title: "REQ/RESP", Right: true})
	t := &Table{Columns: cols, MaxWidth: width, Shrink: len(cols) - 5}
	for _, r := range rows {
		row := []Cell{Plain(time.Unix(0, r.TimeNs).Format("15:04:05.000")), Plain(Sanitize(r.Service)), Plain(fmt.Sprint(r.PID))}
		if wide {
			row = append(row, Plain(Sanitize(cmp.Or(r.Peer, "-"))))
		}
		request := r.Request
		if r.Protocol != "" {
			request = r.Protocol + " " + request
		}
		status := Plain(Sanitize(r.Status))
		if r.Error {
			status = Styled(status.Text, p.Error)
		}
		row = append(row, Plain(Sanitize(request)), status, Plain(FormatLatency(float64(r.LatencyNs))),
			Plain(FormatBytes(uint64(max(r.ReqBytes, 0)))+" / "+FormatBytes(uint64(max(r.RespBytes, 0)))))
		t.Rows = append(t.Rows, row)
	}
	return append(lines, t.Lines()...)
}
