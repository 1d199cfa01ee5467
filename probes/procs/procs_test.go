package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestParseCgroup(t *testing.T) {
	const cid = "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
	cases := []struct {
		name, in, cid, pod string
	}{
		{"cgroupfs v1 hybrid", "12:memory:/kubepods/besteffort/pod1b2c3d4e-0000-4111-8222-123456789abc/" + cid + "\n0::/\n", cid, "1b2c3d4e-0000-4111-8222-123456789abc"},
		{"systemd v2", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_4111_8222_123456789abc.slice/cri-containerd-" + cid + ".scope\n", cid, "1b2c3d4e-0000-4111-8222-123456789abc"},
		{"host process", "4:memory:/process_api/abc\n0::/\n", "", ""},
		{"garbage", "\x00\xff::::\n:\n", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gotC, gotP := ParseCgroup([]byte(c.in))
			if gotC != c.cid || gotP != c.pod {
				t.Fatalf("ParseCgroup = %q, %q; want %q, %q", gotC, gotP, c.cid, c.pod)
			}
		})
	}
}

func fakeProc(t *testing.T, root string, pid int, comm, cgroup string) {
	t.Helper()
	d := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "cgroup"), []byte(cgroup), 0o644)
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	const cid = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	fakeProc(t, root, 10, "nginx", "0::/\n")
	fakeProc(t, root, 11, "curl", "0::/\n")
	fakeProc(t, root, 12, "app", "3:memory:/kubepods/pod11111111-2222-3333-4444-555555555555/"+cid+"\n")
	fakeProc(t, root, 13, "averyveryverylongname", "0::/\n") // comm is cut by the kernel
	os.WriteFile(filepath.Join(root, "13", "comm"), []byte("averyveryverylo\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	// 20 forked 21, which forked 22: selecting 20 selects the tree.
	for pid, ppid := range map[int]int{20: 1, 21: 20, 22: 21} {
		fakeProc(t, root, pid, "tree", "0::/\n")
		os.WriteFile(filepath.Join(root, strconv.Itoa(pid), "stat"), []byte(fmt.Sprintf("%d (tr ee) S %d 1 1", pid, ppid)), 0o644)
	}
	f := Finder{Root: root}
	pidsOf := func(ps []Proc) []uint32 {
		var out []uint32
		for _, p := range ps {
			out = append(out, p.PID)
		}
		return out
	}
	cases := []struct {
		name string
		s    Selector
		want []uint32
	}{
		{"empty", Selector{}, nil},
		{"pid", Selector{PIDs: []uint32{11}}, []uint32{11}},
		{"comm", Selector{Comms: []string{"nginx"}}, []uint32{10}},
		{"long comm", Selector{Comms: []string{"averyveryverylongname"}}, []uint32{13}},
		{"container", Selector{ContainerIDs: []string{cid}}, []uint32{12}},
		{"pod", Selector{PodUIDs: []string{"11111111-2222-3333-4444-555555555555"}}, []uint32{12}},
		{"all but excluded", Selector{All: true, Exclude: []uint32{11, 13, 20, 21, 22}}, []uint32{10, 12}},
		{"pid and descendants", Selector{PIDs: []uint32{20}}, []uint32{20, 21, 22}},
		{"pid of a leaf", Selector{PIDs: []uint32{22}}, []uint32{22}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.Find(c.s)
			if err != nil {
				t.Fatal(err)
			}
			g := pidsOf(got)
			if len(g) != len(c.want) {
				t.Fatalf("got %v, want %v", g, c.want)
			}
			for i := range g {
				if g[i] != c.want[i] {
					t.Fatalf("got %v, want %v", g, c.want)
				}
			}
		})
	}
	if err := f.CheckPIDs([]uint32{10, 99}); err == nil {
		t.Fatal("CheckPIDs accepted a missing PID")
	}
}
