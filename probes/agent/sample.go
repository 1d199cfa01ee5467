//go:build linux

package agent

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// defaultSampleBudget bounds the bytes all kept samples hold together
// (their records as encoded, and their keys): with the default five of
// each kind per endpoint and records of a few KiB, a few hundred
// endpoints fit, far within the probe pod's memory limit.
const defaultSampleBudget = 8 << 20

// sampleOverhead is charged per kept sample besides its encoded record:
// the row, the slice slot and the pointers.
const sampleOverhead = 256

// sampler keeps, per endpoint, the slowest requests over a threshold and
// the latest errors (api.SampleConfig), in one budget of bytes: a sample
// that would exceed it is counted in dropped, not kept.
type sampler struct {
	cfg     api.SampleConfig
	keep    int
	budget  int
	held    int
	dropped uint64
	eps     map[sampleKey]*sampleSlots
}

type sampleKey struct{ service, endpoint string }

type sampleSlots struct{ slow, errs []kept }

type kept struct {
	rec  api.Record
	row  api.SampleRow
	size int
}

func newSampler(cfg api.SampleConfig, budget int) *sampler {
	return &sampler{cfg: cfg, keep: cfg.Keep(), budget: budget, eps: map[sampleKey]*sampleSlots{}}
}

// offer considers one request (its observation complete) for both lists.
func (s *sampler) offer(rec api.Record, o *stats.Observation) {
	slow := s.cfg.SlowNs > 0 && o.LatencyNs >= s.cfg.SlowNs
	isErr := s.cfg.Errors && api.ObservedError(o)
	if !slow && !isErr {
		return
	}
	row := api.NewSampleRow(o, rec.Conn().PID)
	k := sampleKey{row.Service, row.Endpoint}
	sl := s.eps[k]
	if sl == nil {
		sl = &sampleSlots{}
	}
	var size int
	sized := func() int { // encoded once, only for a request that is kept
		if size == 0 {
			b, _ := json.Marshal(rec)
			size = len(b) + sampleOverhead + len(row.Request) + len(row.Endpoint) + len(row.Service) + len(row.Peer)
		}
		return size
	}
	if slow {
		// The fastest kept one makes room for a slower one.
		sl.slow = s.place(sl.slow, rec, row, sized, func(a, b *kept) bool { return a.row.LatencyNs < b.row.LatencyNs })
	}
	if isErr {
		// The oldest kept one makes room for a later one.
		sl.errs = s.place(sl.errs, rec, row, sized, func(a, b *kept) bool { return a.row.TimeNs < b.row.TimeNs })
	}
	if len(sl.slow)+len(sl.errs) > 0 {
		s.eps[k] = sl
	}
}

// place adds the request to list, or in place of its least element (by
// less) when full and the request is greater, within the budget.
func (s *sampler) place(list []kept, rec api.Record, row api.SampleRow, size func() int, less func(a, b *kept) bool) []kept {
	k := kept{rec: rec, row: row}
	if len(list) < s.keep {
		if s.held+size() > s.budget {
			s.dropped++
			return list
		}
		k.size = size()
		s.held += k.size
		return append(list, k)
	}
	low := 0
	for i := range list {
		if less(&list[i], &list[low]) {
			low = i
		}
	}
	if !less(&list[low], &k) {
		return list
	}
	if s.held-list[low].size+size() > s.budget {
		s.dropped++
		return list
	}
	k.size = size()
	s.held += k.size - list[low].size
	list[low] = k
	return list
}

// emit sends every kept sample, endpoint by endpoint, the slowest and
// then the latest first.
func (s *sampler) emit(out *Emitter) {
	keys := slices.SortedFunc(maps.Keys(s.eps), func(a, b sampleKey) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.endpoint, b.endpoint))
	})
	send := func(list []kept, kind string, order func(a, b kept) int) {
		slices.SortFunc(list, order)
		for i := range list {
			h := list[i].rec.Head()
			h.Table = list[i].rec.TableName()
			h.Sample, h.SampleRow = kind, &list[i].row
			out.Emit(h, list[i].rec)
			h.Sample, h.SampleRow = "", nil // a request both slow and failed is sent twice
		}
	}
	for _, k := range keys {
		sl := s.eps[k]
		send(sl.slow, api.SampleSlow, func(a, b kept) int { return cmp.Compare(b.row.LatencyNs, a.row.LatencyNs) })
		send(sl.errs, api.SampleError, func(a, b kept) int { return cmp.Compare(b.row.TimeNs, a.row.TimeNs) })
	}
}
