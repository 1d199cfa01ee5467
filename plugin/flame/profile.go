// Package flame merges CPU profiles (stack_traces records from any number
// of processes and nodes) and renders them: top functions, a terminal flame
// graph, folded stacks, pprof, an interactive SVG and speedscope JSON. It
// is pure Go and builds on every OS the plugin supports.
package flame

import (
	"sort"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Frame is one stack frame.
type Frame struct {
	Name   string
	Module string // binary or library, "[kernel]", "[jit]"
	File   string
	Line   int
	Kernel bool
}

// Stack is a stack of one process with its sample count. Frames are root
// first.
type Stack struct {
	Node        string
	PID         uint32
	Comm        string
	ContainerID string
	Frames      []Frame
	Count       uint64
	// Owner is the pod the process runs in (cluster mode), nil on a host.
	Owner *Owner
}

// Owner names a process's pod and the frames a flame graph shows above
// the process name ("shop/api", then the pod or node when asked).
type Owner struct {
	Namespace, Workload, Pod string
	Roots                    []string
}

// roots are the frames above the process: the owner's, else none.
func (s *Stack) roots() []string {
	if s.Owner == nil {
		return nil
	}
	return s.Owner.Roots
}

// Folded is the stack in folded form without the process: "a;b;c".
func (s *Stack) Folded() string {
	names := make([]string, len(s.Frames))
	for i, f := range s.Frames {
		names[i] = f.Name
	}
	return strings.Join(names, ";")
}

// Profile is a merged CPU profile.
type Profile struct {
	// Hz is the sampling rate per CPU; a sample stands for 1/Hz s of CPU.
	Hz int
	// DurationNs is the profiled window, when known.
	DurationNs int64
	// TimeNs is when profiling started (Unix ns), when known.
	TimeNs int64

	stacks map[string]*Stack
	total  uint64
}

// New returns an empty profile sampled at hz.
func New(hz int) *Profile {
	if hz <= 0 {
		hz = api.ProfileDefaultHz
	}
	return &Profile{Hz: hz, stacks: map[string]*Stack{}}
}

// Total is the number of samples.
func (p *Profile) Total() uint64 { return p.total }

// Len is the number of distinct (process, stack) entries.
func (p *Profile) Len() int { return len(p.stacks) }

func stackKey(s *Stack) string {
	return s.Node + "\x00" + strconv.FormatUint(uint64(s.PID), 10) + "\x00" + s.Comm + "\x00" + s.Folded()
}

// Add merges one stack (its Frames are not copied; do not change them).
func (p *Profile) Add(s Stack) {
	if s.Count == 0 {
		return
	}
	k := stackKey(&s)
	if e := p.stacks[k]; e != nil {
		e.Count += s.Count
	} else {
		c := s
		p.stacks[k] = &c
	}
	p.total += s.Count
}

// AddRecord merges a stack_traces delta from an agent (node from its
// header).
func (p *Profile) AddRecord(r *api.StackTrace) { p.AddRecordOf(r, nil) }

// AddRecordOf is AddRecord for a process of a pod: owner names it (nil:
// none).
func (p *Profile) AddRecordOf(r *api.StackTrace, owner *Owner) {
	names := strings.Split(r.Stack, ";")
	frames := make([]Frame, len(names))
	var mods, lines []string
	if r.Modules != "" {
		mods = strings.Split(r.Modules, ";")
	}
	if r.Lines != "" {
		lines = strings.Split(r.Lines, ";")
	}
	for i, n := range names {
		f := &frames[i]
		f.Name = n
		f.Kernel = strings.HasSuffix(n, api.KernelSuffix)
		if len(mods) == len(names) {
			f.Module = mods[i]
		}
		if len(lines) == len(names) && lines[i] != "" {
			if j := strings.LastIndexByte(lines[i], ':'); j > 0 {
				f.File = lines[i][:j]
				f.Line, _ = strconv.Atoi(lines[i][j+1:])
			}
		}
	}
	p.Add(Stack{Node: r.Node, PID: r.PID, Comm: r.Comm, ContainerID: r.ContainerID, Frames: frames, Count: r.Count, Owner: owner})
}

// Merge adds every stack of q to p (multi-process, multi-node).
func (p *Profile) Merge(q *Profile) {
	for _, s := range q.stacks {
		p.Add(*s)
	}
	if q.DurationNs > p.DurationNs {
		p.DurationNs = q.DurationNs
	}
}

// Stacks returns the stacks, largest first (ties by process and stack),
// so every output is deterministic.
func (p *Profile) Stacks() []*Stack {
	type kv struct {
		k string
		s *Stack
	}
	all := make([]kv, 0, len(p.stacks))
	for k, s := range p.stacks {
		all = append(all, kv{k, s})
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.s.Count != b.s.Count {
			return a.s.Count > b.s.Count
		}
		return a.k < b.k
	})
	out := make([]*Stack, len(all))
	for i, e := range all {
		out[i] = e.s
	}
	return out
}

// Process is one profiled process and its samples.
type Process struct {
	Node    string
	PID     uint32
	Comm    string
	Samples uint64
	Owner   *Owner
}

// Processes lists processes by samples, largest first.
func (p *Profile) Processes() []Process {
	type key struct {
		node string
		pid  uint32
		comm string
	}
	m := map[key]*Process{}
	for _, s := range p.stacks {
		k := key{s.Node, s.PID, s.Comm}
		if m[k] == nil {
			m[k] = &Process{Node: s.Node, PID: s.PID, Comm: s.Comm, Owner: s.Owner}
		}
		m[k].Samples += s.Count
	}
	out := make([]Process, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Samples != out[j].Samples {
			return out[i].Samples > out[j].Samples
		}
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// comms is the number of distinct process names.
func (p *Profile) comms() int {
	m := map[string]bool{}
	for _, s := range p.stacks {
		m[s.Comm] = true
	}
	return len(m)
}

// Func is a row of the top-functions table.
type Func struct {
	Name   string
	Module string
	Comm   string // "" when the profile merges one process name
	Self   uint64 // samples with this function as the leaf
	Total  uint64 // samples with this function anywhere in the stack
}

// Top returns the n functions with the most self samples (n <= 0: all).
// With several process names, functions are kept apart per process name.
func (p *Profile) Top(n int) []Func {
	perComm := p.comms() > 1
	type key struct{ name, module, comm string }
	m := map[key]*Func{}
	get := func(f Frame, comm string) *Func {
		k := key{f.Name, f.Module, ""}
		if perComm {
			k.comm = comm
		}
		e := m[k]
		if e == nil {
			e = &Func{Name: f.Name, Module: f.Module, Comm: k.comm}
			m[k] = e
		}
		return e
	}
	for _, s := range p.stacks {
		if len(s.Frames) == 0 {
			continue
		}
		seen := map[*Func]bool{} // recursion counts once in total
		for _, f := range s.Frames {
			e := get(f, s.Comm)
			if !seen[e] {
				seen[e] = true
				e.Total += s.Count
			}
		}
		get(s.Frames[len(s.Frames)-1], s.Comm).Self += s.Count
	}
	out := make([]Func, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Self != b.Self {
			return a.Self > b.Self
		}
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		if a.Comm != b.Comm {
			return a.Comm < b.Comm
		}
		return a.Name < b.Name
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

type frameKey struct{ module, name string }

// node is a call-tree node for the flame graphs.
type node struct {
	name     string
	module   string
	kernel   bool
	self     uint64
	total    uint64
	children map[frameKey]*node
	order    []*node // children, largest first (after sortTree)
}

// tree builds the merged call tree; with several process names, or owners
// (their roots first), the first levels under the root name the process.
func (p *Profile) tree() *node { return p.treeWith(p.comms() > 1) }

// treeWith builds the call tree, with a process level when perComm.
func (p *Profile) treeWith(perComm bool) *node {
	root := &node{name: "all", children: map[frameKey]*node{}}
	for _, s := range p.stacks {
		cur := root
		cur.total += s.Count
		step := func(f Frame) {
			k := frameKey{f.Module, f.Name}
			c := cur.children[k]
			if c == nil {
				c = &node{name: f.Name, module: f.Module, kernel: f.Kernel, children: map[frameKey]*node{}}
				cur.children[k] = c
			}
			c.total += s.Count
			cur = c
		}
		for _, r := range s.roots() {
			step(Frame{Name: r, Module: "[workload]"})
		}
		if perComm || s.Owner != nil {
			step(Frame{Name: s.Comm, Module: "[process]"})
		}
		for _, f := range s.Frames {
			step(f)
		}
		cur.self += s.Count
	}
	sortTree(root)
	return root
}

func sortTree(n *node) {
	n.order = make([]*node, 0, len(n.children))
	for _, c := range n.children {
		n.order = append(n.order, c)
	}
	sort.Slice(n.order, func(i, j int) bool {
		a, b := n.order[i], n.order[j]
		if a.total != b.total {
			return a.total > b.total
		}
		return a.name < b.name
	})
	for _, c := range n.order {
		sortTree(c)
	}
}
