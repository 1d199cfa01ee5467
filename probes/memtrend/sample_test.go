package memtrend

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

func TestParseStatOddComm(t *testing.T) {
	// A comm with spaces and parentheses must not shift the fields.
	line := "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1500 0 7 0 250 30 0 0 20 0 3 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	s, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := statFields{comm: "a) b (c", minor: 1500, major: 7, utime: 250, stime: 30, threads: 3, start: 12345, vsize: 104857600, rss: 2560}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("no error for garbage")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakeProc(t *testing.T, root string, cgroup string, minor uint64) {
	dir := filepath.Join(root, "proc", "77")
	write(t, filepath.Join(dir, "stat"), "77 (leaky) S 1 77 77 0 -1 0 "+itoa(minor)+" 0 2 0 100 50 0 0 20 0 1 0 999 8192000 300 0\n")
	write(t, filepath.Join(dir, "statm"), "2000 310 20 1 0 100 0\n")
	write(t, filepath.Join(dir, "status"), "Name:\tleaky\nVmHWM:\t2000 kB\nVmRSS:\t1240 kB\nRssAnon:\t1000 kB\nRssFile:\t200 kB\nRssShmem:\t40 kB\nVmSwap:\t8 kB\n")
	write(t, filepath.Join(dir, "smaps_rollup"), "Rss: 1240 kB\nPss: 900 kB\n")
	write(t, filepath.Join(dir, "cmdline"), "./leaky\x00--rate\x001M\x00")
	write(t, filepath.Join(dir, "cgroup"), cgroup)
}

func itoa(n uint64) string { return string(appendUint(nil, n)) }

func appendUint(b []byte, n uint64) []byte {
	if n >= 10 {
		b = appendUint(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestSampleFakeProcV1(t *testing.T) {
	root := t.TempDir()
	fakeProc(t, root, "4:memory:/pod/ctr\n0::/\n", 1000)
	cg := filepath.Join(root, "cg", "memory", "pod", "ctr")
	write(t, filepath.Join(cg, "memory.usage_in_bytes"), "52428800\n")
	write(t, filepath.Join(cg, "memory.limit_in_bytes"), "9223372036854771712\n")
	write(t, filepath.Join(cg, "memory.stat"), "cache 0\nhierarchical_memory_limit 104857600\n")
	s := &Sampler{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: filepath.Join(root, "cg")}
	t0 := time.Unix(100, 0)
	st, err := s.Sample(77, t0, true)
	if err != nil {
		t.Fatal(err)
	}
	ps := uint64(os.Getpagesize())
	if st.Comm != "leaky" || st.UPID != "77:999" || st.RSSBytes != 310*ps || st.VSizeBytes != 2000*ps {
		t.Errorf("identity/size wrong: %+v", st)
	}
	if st.RSSAnonBytes != 1000<<10 || st.RSSFileBytes != 200<<10 || st.RSSShmemBytes != 40<<10 || st.SwapBytes != 8<<10 || st.PSSBytes != 900<<10 || st.HWMBytes != 2000<<10 {
		t.Errorf("split wrong: %+v", st)
	}
	if st.MinorFaults != 1000 || st.MajorFaults != 2 || st.CPUUserNs != 1e9 || st.CPUKernelNs != 5e8 || st.Cmd != "./leaky --rate 1M" {
		t.Errorf("counters wrong: %+v", st)
	}
	if st.Cgroup != "/pod/ctr" || st.CgroupUsageBytes != 50<<20 || st.CgroupLimitBytes != 100<<20 {
		t.Errorf("cgroup wrong: %q %d %d", st.Cgroup, st.CgroupUsageBytes, st.CgroupLimitBytes)
	}
	fakeProc(t, root, "4:memory:/pod/ctr\n", 1500)
	st, err = s.Sample(77, t0.Add(500*time.Millisecond), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.MinorFaultsPerSec != 1000 || st.Cmd != "" {
		t.Errorf("fault rate %v cmd %q", st.MinorFaultsPerSec, st.Cmd)
	}
	if _, err := s.Sample(78, t0, false); err == nil {
		t.Error("no error for a missing process")
	}
}

func TestSampleFakeProcV2(t *testing.T) {
	root := t.TempDir()
	fakeProc(t, root, "0::/kubepods/pod1/ctr\n", 10)
	base := filepath.Join(root, "cg")
	write(t, filepath.Join(base, "kubepods", "pod1", "ctr", "memory.current"), "1048576\n")
	write(t, filepath.Join(base, "kubepods", "pod1", "ctr", "memory.max"), "max\n")
	write(t, filepath.Join(base, "kubepods", "pod1", "memory.max"), "268435456\n")
	write(t, filepath.Join(base, "kubepods", "memory.max"), "536870912\n")
	s := &Sampler{ProcRoot: filepath.Join(root, "proc"), CgroupRoot: base}
	st, err := s.Sample(77, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cgroup != "/kubepods/pod1/ctr" || st.CgroupUsageBytes != 1<<20 || st.CgroupLimitBytes != 256<<20 {
		t.Errorf("cgroup wrong: %q %d %d", st.Cgroup, st.CgroupUsageBytes, st.CgroupLimitBytes)
	}
}

func TestSampleSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the real /proc")
	}
	var s Sampler
	st, err := s.Sample(uint32(os.Getpid()), time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	if st.RSSBytes == 0 || st.VSizeBytes < st.RSSBytes || st.RSSAnonBytes == 0 || st.NumThreads == 0 || st.MinorFaults == 0 {
		t.Errorf("implausible self sample: %+v", st)
	}
	total, avail := s.HostMemory()
	if total == 0 || avail == 0 || avail > total {
		t.Errorf("host memory %d/%d", avail, total)
	}
}

func TestTrackerSummaries(t *testing.T) {
	var tr Tracker
	for i := 0; i < 20; i++ {
		now := int64(i) * 5e8
		tr.Add(api.ProcessStats{Time: now, PID: 1, UPID: "1:1", Comm: "leak", RSSBytes: uint64(10<<20 + i*(1<<20)), CgroupUsageBytes: uint64(20<<20 + i*(1<<20)), CgroupLimitBytes: 100 << 20})
		tr.Add(api.ProcessStats{Time: now, PID: 2, UPID: "2:1", Comm: "idle", RSSBytes: 5 << 20})
	}
	// A spike between samples: the high-water mark rose above every sample.
	tr.Add(api.ProcessStats{Time: 20 * 5e8, PID: 2, UPID: "2:1", Comm: "idle", RSSBytes: 5 << 20, HWMBytes: 9 << 20})
	tr.Exited("2:1")
	sums := tr.Summaries(42, Host{TotalBytes: 1 << 30, AvailableBytes: 512 << 20})
	if len(sums) != 2 || sums[0].Comm != "leak" {
		t.Fatalf("order: %+v", sums)
	}
	l, i := sums[0], sums[1]
	if l.Verdict != vocab.VerdictLeak || l.GrowthBytesPerSec != 2<<20 || l.PeakRSSBytes != 29<<20 || l.LimitSource != "cgroup" {
		t.Errorf("leak summary: %+v", l)
	}
	// cgroup at 39 MiB of 100 MiB, growing 2 MiB/s: 30.5 s to OOM.
	if l.PercentOfLimit != 39 || l.TimeToOOMNs != 30_500_000_000 {
		t.Errorf("limit maths: %.2f%% %d ns", l.PercentOfLimit, l.TimeToOOMNs)
	}
	if i.Verdict != vocab.VerdictStable || !i.Exited || i.LimitSource != "host" || i.PercentOfLimit != 100*5.0/1024 || i.TimeToOOMNs != 0 || i.PeakRSSBytes != 9<<20 {
		t.Errorf("idle summary: %+v", i)
	}
}
