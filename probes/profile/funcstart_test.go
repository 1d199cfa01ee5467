//go:build linux

package profile

import "testing"

func TestStartName(t *testing.T) {
	start := func(pc uint64) (uint64, bool) {
		if pc >= 0x7f0000001000 && pc < 0x7f0000001100 {
			return 0x7f0000001000, true
		}
		return 0, false
	}
	for _, c := range []struct {
		name string
		pc   uint64
		leaf bool
		want string
	}{
		{"[libc.so.6+0x3f9a3]", 0x7f00000010a3, true, "[libc.so.6+0x3f900]"},
		{"[libc.so.6+0x3f9a2]", 0x7f00000010a3, false, "[libc.so.6+0x3f900]"}, // return address: looked up at pc-1
		{"[libc.so.6+0x3f9a3]", 0x7f0000002000, true, "[libc.so.6+0x3f9a3]"},  // no FDE
		{"[x+0x10]", 0x7f00000010a3, true, "[x+0x10]"},                        // the start would be before the module
		{"malloc", 0x7f00000010a3, true, "malloc"},
		{"[anon]", 0x7f00000010a3, true, "[anon]"},
		{"[a+b+0xzz]", 0x7f00000010a3, true, "[a+b+0xzz]"},
	} {
		if got := StartName(c.name, c.pc, c.leaf, start); got != c.want {
			t.Errorf("StartName(%q, %#x, %v) = %q, want %q", c.name, c.pc, c.leaf, got, c.want)
		}
	}
}
