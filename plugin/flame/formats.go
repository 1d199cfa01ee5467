package flame

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// WriteFolded writes Brendan Gregg's collapsed stacks: "comm;a;b;c N" per
// line, root first, the process name as the first frame (as
// stackcollapse-perf.pl does), after its owner's roots in cluster mode
// ("shop/api;comm;a;b"). Stacks of the same name and frames merge.
func (p *Profile) WriteFolded(w io.Writer) error {
	return p.WriteFoldedEscaped(w, nil)
}

// WriteFoldedEscaped is WriteFolded with every name passed through escape
// (for a terminal: names come from the node); nil keeps them.
func (p *Profile) WriteFoldedEscaped(w io.Writer, escape func(string) string) error {
	if escape == nil {
		escape = func(s string) string { return s }
	}
	merged := map[string]uint64{}
	var order []string
	for _, s := range p.Stacks() {
		line := ""
		for _, r := range s.roots() {
			line += escape(foldName(r)) + ";"
		}
		line += escape(foldName(s.Comm))
		for _, f := range s.Frames {
			line += ";" + escape(foldName(f.Name))
		}
		if _, ok := merged[line]; !ok {
			order = append(order, line)
		}
		merged[line] += s.Count
	}
	// Largest first, then by text: the same profile always prints the same.
	sort.Slice(order, func(i, j int) bool {
		if merged[order[i]] != merged[order[j]] {
			return merged[order[i]] > merged[order[j]]
		}
		return order[i] < order[j]
	})
	bw := bufio.NewWriter(w)
	for _, line := range order {
		fmt.Fprintf(bw, "%s %d\n", line, merged[line])
	}
	return bw.Flush()
}

// foldName keeps a name one frame of one line: ';' separates frames and
// '\n' stacks.
func foldName(s string) string {
	if s == "" {
		return "[unknown]"
	}
	return foldReplacer.Replace(s)
}

var foldReplacer = strings.NewReplacer(";", ":", "\n", " ", "\r", " ")

// ParseFolded reads collapsed stacks ("a;b;c N"); the first frame is taken
// as the process name, as WriteFolded writes it.
func ParseFolded(r io.Reader, hz int) (*Profile, error) {
	p := New(hz)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("folded line %d: no sample count", ln)
		}
		n, err := strconv.ParseUint(line[i+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("folded line %d: bad sample count: %w", ln, err)
		}
		names := strings.Split(line[:i], ";")
		s := Stack{Comm: names[0], Count: n}
		for _, name := range names[1:] {
			f := Frame{Name: name}
			if k, ok := strings.CutSuffix(name, "_[k]"); ok && k != "" {
				f.Kernel, f.Module = true, "[kernel]"
			}
			s.Frames = append(s.Frames, f)
		}
		p.Add(s)
	}
	return p, sc.Err()
}

// Pprof builds a profile.proto: sample types samples/count and
// cpu/nanoseconds, one location per function, file and line where known,
// labels comm and pid (and node, namespace, workload and pod in cluster
// mode).
func (p *Profile) Pprof() *profile.Profile {
	period := int64(time.Second) / int64(p.Hz)
	out := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        period,
		DurationNanos: p.DurationNs,
		TimeNanos:     p.TimeNs,
	}
	type funcKey struct{ name, file string }
	type locKey struct {
		module, name, file string
		line               int
	}
	mappings := map[string]*profile.Mapping{}
	funcs := map[funcKey]*profile.Function{}
	locs := map[locKey]*profile.Location{}
	for _, s := range p.Stacks() {
		sample := &profile.Sample{
			Value:    []int64{int64(s.Count), int64(s.Count) * period},
			Label:    map[string][]string{"comm": {s.Comm}},
			NumLabel: map[string][]int64{"pid": {int64(s.PID)}},
		}
		if s.Node != "" {
			sample.Label["node"] = []string{s.Node}
		}
		if o := s.Owner; o != nil {
			sample.Label["namespace"] = []string{o.Namespace}
			sample.Label["workload"] = []string{o.Workload}
			sample.Label["pod"] = []string{o.Pod}
		}
		for i := len(s.Frames) - 1; i >= 0; i-- { // pprof wants the leaf first
			f := s.Frames[i]
			lk := locKey{f.Module, f.Name, f.File, f.Line}
			loc := locs[lk]
			if loc == nil {
				m := mappings[f.Module]
				if m == nil {
					m = &profile.Mapping{ID: uint64(len(mappings) + 1), File: f.Module,
						HasFunctions: true, HasFilenames: true, HasLineNumbers: true}
					mappings[f.Module] = m
					out.Mapping = append(out.Mapping, m)
				}
				fk := funcKey{f.Name, f.File}
				fn := funcs[fk]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.Name, SystemName: f.Name, Filename: f.File}
					funcs[fk] = fn
					out.Function = append(out.Function, fn)
				}
				loc = &profile.Location{ID: uint64(len(locs) + 1), Mapping: m, Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
				locs[lk] = loc
				out.Location = append(out.Location, loc)
			}
			sample.Location = append(sample.Location, loc)
		}
		out.Sample = append(out.Sample, sample)
	}
	return out
}

// WritePprof writes the gzipped profile.proto that `go tool pprof` reads.
func (p *Profile) WritePprof(w io.Writer) error {
	return p.Pprof().Write(w)
}

// Speedscope file format (https://www.speedscope.app/file-format-schema.json).
type speedscopeFile struct {
	Schema             string              `json:"$schema"`
	Shared             speedscopeShared    `json:"shared"`
	Profiles           []speedscopeProfile `json:"profiles"`
	Name               string              `json:"name,omitempty"`
	ActiveProfileIndex int                 `json:"activeProfileIndex"`
	Exporter           string              `json:"exporter,omitempty"`
}

type speedscopeShared struct {
	Frames []speedscopeFrame `json:"frames"`
}

type speedscopeFrame struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

type speedscopeProfile struct {
	Type       string   `json:"type"`
	Name       string   `json:"name"`
	Unit       string   `json:"unit"`
	StartValue uint64   `json:"startValue"`
	EndValue   uint64   `json:"endValue"`
	Samples    [][]int  `json:"samples"`
	Weights    []uint64 `json:"weights"`
}

// WriteSpeedscope writes speedscope's JSON: one sampled profile per
// process, weights in samples, stacks root first.
func (p *Profile) WriteSpeedscope(w io.Writer, name string) error {
	f := speedscopeFile{Schema: "https://www.speedscope.app/file-format-schema.json", Name: name, Exporter: "kubectl-pixie"}
	f.Shared.Frames = []speedscopeFrame{}
	frameIdx := map[string]int{}
	byProc := map[string]*speedscopeProfile{}
	for _, s := range p.Stacks() {
		pname := processName(s.Comm, s.PID, s.Node, s.Owner)
		sp := byProc[pname]
		if sp == nil {
			sp = &speedscopeProfile{Type: "sampled", Name: pname, Unit: "none", Samples: [][]int{}, Weights: []uint64{}}
			byProc[pname] = sp
		}
		stack := make([]int, len(s.Frames))
		for i, fr := range s.Frames {
			k := fr.Name + "\x00" + fr.File + "\x00" + strconv.Itoa(fr.Line)
			idx, ok := frameIdx[k]
			if !ok {
				idx = len(f.Shared.Frames)
				frameIdx[k] = idx
				f.Shared.Frames = append(f.Shared.Frames, speedscopeFrame{Name: fr.Name, File: fr.File, Line: fr.Line})
			}
			stack[i] = idx
		}
		sp.Samples = append(sp.Samples, stack)
		sp.Weights = append(sp.Weights, s.Count)
		sp.EndValue += s.Count
	}
	for _, pr := range p.Processes() {
		pname := processName(pr.Comm, pr.PID, pr.Node, pr.Owner)
		if sp := byProc[pname]; sp != nil {
			f.Profiles = append(f.Profiles, *sp)
			delete(byProc, pname)
		}
	}
	if f.Profiles == nil {
		f.Profiles = []speedscopeProfile{}
	}
	return json.NewEncoder(w).Encode(&f)
}

// processName is speedscope's name of a process: "comm (pid N) in
// shop/api-7d9-x on node-1".
func processName(comm string, pid uint32, node string, o *Owner) string {
	s := fmt.Sprintf("%s (pid %d)", comm, pid)
	if o != nil {
		s += " in " + o.Namespace + "/" + o.Pod
	}
	if node != "" {
		s += " on " + node
	}
	return s
}
