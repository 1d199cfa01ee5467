//go:build linux

package attach

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// adder adds n to the counter map's slot 0 on each run.
func adder(n int64) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: asm.Instructions{
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("counter"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, int32(n)),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}}
}

func counterSpec(progs int) *ebpf.CollectionSpec {
	spec := &ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{"counter": {Name: "counter", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}},
		Programs: map[string]*ebpf.ProgramSpec{},
	}
	for i := range progs {
		spec.Programs[fmt.Sprintf("add%d", i)] = adder(int64(1) << i)
		name := fmt.Sprintf("hash%d", i) // made side by side
		spec.Maps[name] = &ebpf.MapSpec{Name: name, Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1024}
	}
	return spec
}

// LoadCollection loads every program against one set of maps, on
// several goroutines, and fails whole when one program fails.
func TestLoadCollection(t *testing.T) {
	probetest.RequirePrivileged(t)
	const n = 9
	coll, err := LoadCollection(counterSpec(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	if len(coll.Programs) != n {
		t.Fatalf("%d programs loaded, want %d", len(coll.Programs), n)
	}
	for name, p := range coll.Programs {
		if _, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
			t.Fatalf("running %s: %v", name, err)
		}
	}
	var got uint64
	if err := coll.Maps["counter"].Lookup(uint32(0), &got); err != nil {
		t.Fatal(err)
	}
	// Each program adds its own bit: all ran, and all on the one map.
	if want := uint64(1)<<n - 1; got != want {
		t.Fatalf("counter %b, want %b: the programs do not share the collection's map", got, want)
	}

	for i := range n {
		h := coll.Maps[fmt.Sprintf("hash%d", i)]
		if h == nil {
			t.Fatalf("hash%d missing from the collection", i)
		}
		if err := h.Put(uint32(i), uint64(i)); err != nil {
			t.Fatalf("hash%d: %v", i, err)
		}
	}

	badMap := counterSpec(n)
	badMap.Maps["hash4"].KeySize = 0
	if _, err := LoadCollection(badMap, nil); err == nil {
		t.Fatal("a collection with a map the kernel refuses loaded")
	}

	bad := counterSpec(n)
	bad.Programs["add3"].Instructions = asm.Instructions{asm.Return()} // R0 never set
	if _, err := LoadCollection(bad, nil); err == nil {
		t.Fatal("a collection with a program the verifier rejects loaded")
	} else if ve := (*ebpf.VerifierError)(nil); !errors.As(err, &ve) {
		t.Fatalf("error %v does not carry the verifier's log", err)
	}
}
