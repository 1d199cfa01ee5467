//go:build linux

package memgrowth

import (
	"encoding/binary"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/profile"
	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

// Records come from the kernel, but a decoder that trusts lengths and
// counts is one bug away from a crash: any bytes must be handled or
// counted as bad, never panic.
func FuzzHandle(f *testing.F) {
	fault := make([]byte, faultSize)
	binary.LittleEndian.PutUint32(fault, 1)
	binary.LittleEndian.PutUint32(fault[4:], 1)
	binary.LittleEndian.PutUint32(fault[12:], 7)
	binary.LittleEndian.PutUint64(fault[16:], 0x7f0000001000)
	binary.LittleEndian.PutUint64(fault[24:], 0x401000)
	binary.LittleEndian.PutUint64(fault[32:], 0x7ffc00000000)
	binary.LittleEndian.PutUint32(fault[offFaultUser+24:], 0xffffffff) // stack_len past the array
	binary.LittleEndian.PutUint32(fault[offFaultUser+28:], 0xffffffff) // nfp past the array
	f.Add(fault)
	rng := make([]byte, rangeSize)
	binary.LittleEndian.PutUint32(rng, 2)
	binary.LittleEndian.PutUint64(rng[16:], ^uint64(0))
	f.Add(rng)
	f.Add([]byte{3, 0, 0, 0})
	f.Add([]byte{})
	root := f.TempDir() // no processes: unwinding finds no maps
	t := &Tracer{ledger: NewLedger(4096), unw: unwind.New(root), sym: profile.NewSymbolizer(root), cfg: Config{ProcRoot: root}}
	f.Fuzz(func(_ *testing.T, b []byte) {
		t.handle(b)
	})
}
