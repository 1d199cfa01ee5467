//go:build linux

// Package socktrace loads and runs the eBPF socket tracer (bpf/socktrace.bpf.c):
// payload capture of TCP and UDP socket syscalls of targeted processes, from
// syscall tracepoints only. It reports conn.Event values.
package socktrace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/attach"
)

// Defaults and limits of Config.
const (
	DefaultMaxPayload = 4096
	MaxPayloadCap     = 16384 // PX_MAX_PAYLOAD_CAP in bpf/include/pixie/socktrace_event.h
	DefaultRingBytes  = 8 << 20
	// FlushInterval bounds how long an event waits in the ring buffer when
	// fewer than WakeupBytes are queued.
	FlushInterval = 50 * time.Millisecond
	// drainTimeout bounds how long Run keeps reading after ctx is done.
	drainTimeout = 250 * time.Millisecond
)

// Loss counter names in Stats.LostBy.
const (
	LostRingFull      = "ring_full"         // events dropped: ring buffer full
	LostTruncated     = "truncated"         // data events whose payload was cut at MaxPayload
	LostReadFailed    = "read_failed"       // events whose payload could not be read from user memory
	LostConnTableFull = "conn_table_full"   // connections not tracked: table full
	LostDecode        = "decode_error"      // malformed records (a bug)
	LostTLSNoFD       = "tls_no_fd"         // TLS calls whose socket was not found: plaintext lost
	LostTargetsFull   = "target_table_full" // forked or exec'd processes not targeted: target table full
	LostArgsFull      = "args_table_full"   // calls lost: their arguments did not fit the per-thread table
	// LostNConnsFull counts processes whose connections were not counted
	// (table full); nothing is lost, but every exit scans the connection
	// table from then on.
	LostNConnsFull = "nconns_table_full"
	// LostIOVCut counts calls whose iovecs past the 16th were not copied
	// although the capture had room: only on kernels without bpf_loop
	// (< 5.17); newer ones copy every iovec.
	LostIOVCut = "iov_cut"
	// LostMMsgCut counts sendmmsg/recvmmsg messages past the 8th, not
	// reported: only on kernels without bpf_loop.
	LostMMsgCut = "mmsg_cut"
	// LostH2Cut counts HTTP/2 frames in the uncaptured middle of a cut
	// call that could not be reported (no room left in the event, or the
	// walk over its frames ran out of steps; then the direction's frames
	// are no longer followed).
	LostH2Cut = "h2_cut"
)

// Config selects what to trace and how much to keep.
type Config struct {
	// TargetAll traces every process except the caller. Otherwise only PIDs
	// (thread-group ids) and their future children are traced.
	TargetAll bool
	PIDs      []uint32
	// MaxPayload is how many bytes of each call are captured: a power of two
	// <= MaxPayloadCap; 0 means DefaultMaxPayload.
	MaxPayload int
	// RingBytes is the ring buffer size: a power of two multiple of the page
	// size; 0 means DefaultRingBytes.
	RingBytes int
	// TLSPerExecutable makes AttachTLS probe a Go executable once for every
	// targeted process that runs it, not per PID, so that processes exec'd
	// later (targeted by AddComm) are read from their first call.
	TLSPerExecutable bool
	// NoConnBytes leaves the byte totals out of close events (the
	// conn_stats cost benchmark's baseline).
	NoConnBytes bool
	// HTTP1Summary summarizes HTTP/1 exchanges in the kernel (one record
	// per request instead of its calls' data) on connections seen from
	// their start, where the view needs no heads or bodies. It needs
	// bpf_loop (Linux 5.17); Tracer.HTTP1Summary tells whether it is on.
	HTTP1Summary bool
	// WakeupBytes: the kernel wakes the reader once this much is queued;
	// below it the reader polls every FlushInterval. 0 means RingBytes/32.
	WakeupBytes int
}

// Stats are the tracer's counters since New.
type Stats struct {
	// Captured is the number of events passed to Run's callback.
	Captured uint64
	// Submitted is the number of events the kernel put in the ring buffer.
	Submitted uint64
	// LostBy counts losses by reason (the Lost* names). Every key is present.
	LostBy map[string]uint64
	// TruncatedBytes is how many payload bytes the MaxPayload cap dropped.
	TruncatedBytes uint64
	// BPFRunNs and BPFRunCount sum the kernel's run-time stats over all
	// programs (BPF_ENABLE_STATS is held while the tracer is open). They
	// include the filter's cost in untargeted processes: BPFRunNs/Submitted
	// is the kernel-side cost per captured event, all included.
	BPFRunNs    uint64
	BPFRunCount uint64
	// HTTP1Summaries counts exchanges summarized in the kernel, and
	// HTTP1Fallbacks the times it handed a connection to the payload
	// path, by reason (the Fallback* names); both nil when it is off.
	HTTP1Summaries uint64
	HTTP1Fallbacks map[string]uint64
}

// Reasons in Stats.HTTP1Fallbacks.
const (
	FallbackConn      = "conn"      // not seen from its start, not HTTP/1 first, TLS, or a *mmsg call
	FallbackPipelined = "pipelined" // a request before the previous exchange ended
	FallbackSplit     = "split"     // a head not whole in one call's capture
	FallbackFraming   = "framing"   // chunked, no length, Upgrade, Expect, 1xx, odd lines
	FallbackFull      = "full"      // the kernel's table of summarized connections was full
)

// ProgramStats is one program's kernel run-time stats.
type ProgramStats struct {
	RunNs    uint64
	RunCount uint64
}

// forceExitFallback makes New load px_exit_old even where px_exit works (tests).
var forceExitFallback = false

// forceIOVFallback makes New load the bounded px_eb_* exits of the vector
// calls even where bpf_loop works (tests).
var forceIOVFallback = false

// Tracer is a loaded and attached socket tracer.
type Tracer struct {
	coll     *ebpf.Collection
	links    []link.Link
	rd       *ringbuf.Reader
	stats    interface{ Close() error }
	attach   time.Duration
	captured atomic.Uint64
	decodeEr atomic.Uint64

	tls tlsState

	h1 bool // HTTP/1 summaries on (Config.HTTP1Summary, and the kernel has bpf_loop)

	slots   uint32       // tgids below it are targeted in slotMem
	slotMem *ebpf.Memory // px_tslots, one byte per tgid

	closeOnce sync.Once
	closeErr  error
	final     atomic.Pointer[Stats] // Stats at Close
}

// New loads the programs, attaches them and starts tracing. It needs root
// (or CAP_BPF+CAP_PERFMON), a kernel >= 5.8 with BTF, and tracefs, which it
// mounts at /sys/kernel/tracing when nothing is mounted.
func New(cfg Config) (*Tracer, error) {
	start := time.Now()
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	// The kernel's BTF, decoded once: checkHost's check and the
	// programs' CO-RE relocations share it.
	kernelBTF := btf.NewCache()
	if err := checkHost(kernelBTF); err != nil {
		return nil, err
	}
	slots := pidSlots()
	cfg.HTTP1Summary = cfg.HTTP1Summary && haveLoop()
	spec, err := newSpec(&cfg, slots)
	if err != nil {
		return nil, err
	}

	t := &Tracer{h1: cfg.HTTP1Summary}
	t.tls.perExe = cfg.TLSPerExecutable
	// Stats first, so run time is counted from the first event.
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		t.stats = st
	}
	t.coll, err = attach.LoadCollection(spec, kernelBTF)
	if err != nil {
		t.Close()
		return nil, loadError(err)
	}
	if err := t.mapTargetSlots(slots); err != nil {
		t.Close()
		return nil, err
	}
	for _, pid := range cfg.PIDs {
		if err := t.AddPID(pid); err != nil {
			t.Close()
			return nil, err
		}
	}
	if err := t.attachAll(spec); err != nil {
		t.Close()
		return nil, err
	}
	t.rd, err = ringbuf.NewReader(t.coll.Maps["px_events"])
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	t.attach = time.Since(start)
	return t, nil
}

// checkHost says what this host lacks for the tracer, with the remedy.
func checkHost(kernelBTF *btf.Cache) error {
	if !privileged() {
		return errors.New("the socket tracer needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE): run as root, or in a privileged probe pod")
	}
	if _, err := kernelBTF.Kernel(); err != nil {
		return fmt.Errorf("the socket tracer needs Linux >= 5.8 with BTF (/sys/kernel/btf/vmlinux): %w", err)
	}
	return attach.EnsureTracefs()
}

// newSpec loads the BPF objects' spec configured for cfg and this kernel.
func newSpec(cfg *Config, slots uint32) (*ebpf.CollectionSpec, error) {
	spec, err := loadSocktrace()
	if err != nil {
		return nil, err
	}
	vars := map[string]any{
		"target_all":   boolU32(cfg.TargetAll),
		"self_tgid":    uint32(os.Getpid()),
		"max_payload":  uint32(cfg.MaxPayload),
		"wakeup_bytes": uint64(cfg.WakeupBytes),
		"conn_bytes":   boolU32(!cfg.NoConnBytes),
		"pid_slots":    slots,
		"h1_summary":   boolU32(cfg.HTTP1Summary),
	}
	if tlsSupported {
		vars["go_tcpconn_hash_md5"], vars["go_tcpconn_hash_sha"] = goTypeHashes("*net.TCPConn")
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	spec.Maps["px_events"].MaxEntries = uint32(cfg.RingBytes)
	sizeTargetSlots(spec, slots)
	// Process exit: px_exit drops the connections in the kernel with
	// bpf_for_each_map_elem (Linux 5.13); older kernels get px_exit_old,
	// which reports the exit and lets Run drop them.
	exitFallback := forceExitFallback ||
		features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnForEachMapElem) != nil
	if exitFallback {
		delete(spec.Programs, "px_exit")
	} else {
		delete(spec.Programs, "px_exit_old")
	}
	pickVectorExits(spec)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("counting CPUs: %w", err)
	}
	spec.Maps["px_scratch"].MaxEntries = uint32(ncpu)
	if !tlsSupported {
		for name, ps := range spec.Programs {
			if isUprobe(ps.SectionName) {
				delete(spec.Programs, name)
			}
		}
	}
	return spec, nil
}

// pickVectorExits keeps one exit of each vector call (readv, writev,
// sendmsg, ...): px_ex_NAME copies every iovec with bpf_loop (Linux 5.17),
// px_eb_NAME, for older kernels, the first 16.
func pickVectorExits(spec *ebpf.CollectionSpec) {
	bounded := !haveLoop()
	for name := range spec.Programs {
		call, ok := strings.CutPrefix(name, "px_eb_")
		if !ok {
			continue
		}
		if bounded {
			delete(spec.Programs, "px_ex_"+call)
		} else {
			delete(spec.Programs, name)
		}
	}
}

// haveLoop: tracepoint programs may call bpf_loop (Linux 5.17), and
// tests do not force the bounded exits.
func haveLoop() bool {
	return !forceIOVFallback && features.HaveProgramHelper(ebpf.TracePoint, asm.FnLoop) == nil
}

// HTTP1Summary tells whether the kernel summarizes HTTP/1 exchanges.
func (t *Tracer) HTTP1Summary() bool { return t.h1 }

// privileged reports whether the process may load tracing programs: root,
// or CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON (Linux >= 5.8).
func privileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	return has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON))
}

func (c *Config) normalize() error {
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxPayload < 0 || c.MaxPayload > MaxPayloadCap || bits.OnesCount(uint(c.MaxPayload)) != 1 {
		return fmt.Errorf("max payload %d: must be a power of two between 1 and %d", c.MaxPayload, MaxPayloadCap)
	}
	if c.RingBytes == 0 {
		c.RingBytes = DefaultRingBytes
	}
	if c.RingBytes < os.Getpagesize() || bits.OnesCount(uint(c.RingBytes)) != 1 || c.RingBytes > 1<<31 {
		return fmt.Errorf("ring buffer size %d: must be a power of two between the page size and 2 GiB", c.RingBytes)
	}
	if c.WakeupBytes == 0 {
		c.WakeupBytes = c.RingBytes / 32
	}
	if c.WakeupBytes < 0 || c.WakeupBytes > c.RingBytes {
		return fmt.Errorf("wakeup bytes %d: must be between 0 and the ring size %d", c.WakeupBytes, c.RingBytes)
	}
	return nil
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// loadError turns a verifier error into its first and last lines; the full
// log is kept in the wrapped error (print it with %+v).
func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		lines := ve.Log
		if len(lines) > 6 {
			lines = append(append([]string{}, lines[:2]...), append([]string{"..."}, lines[len(lines)-3:]...)...)
		}
		return fmt.Errorf("the kernel's verifier rejected the socket tracer (please report this with your kernel version): %s: %w",
			strings.Join(lines, " | "), err)
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("the socket tracer needs Linux >= 5.8 with BTF and ring buffers: %w", err)
	}
	return fmt.Errorf("loading the socket tracer: %w", err)
}

// optionalTracepoints are attached where the kernel has them:
// epoll_pwait2 came in Linux 5.11.
var optionalTracepoints = map[string]bool{"px_en_ep_pwait2": true}

func (t *Tracer) attachAll(spec *ebpf.CollectionSpec) error {
	for name, ps := range spec.Programs {
		prog := t.coll.Programs[name]
		var (
			l   link.Link
			err error
		)
		if isUprobe(ps.SectionName) {
			continue // AttachTLS, per process or library
		}
		switch parts := strings.Split(ps.SectionName, "/"); {
		case parts[0] == "tracepoint" && len(parts) == 3:
			l, err = link.Tracepoint(parts[1], parts[2], prog, nil)
		case parts[0] == "raw_tracepoint" && len(parts) == 2:
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: parts[1], Program: prog})
		default:
			err = fmt.Errorf("unexpected section %q", ps.SectionName)
		}
		if err != nil && optionalTracepoints[name] && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		t.links = append(t.links, l)
	}
	return nil
}

// AddComm targets every process that execs a program with this command
// name from now on (the kernel cuts names to 15 bytes, and so does this).
// Processes already running are added with AddPID.
func (t *Tracer) AddComm(name string) error {
	var key [16]byte
	copy(key[:15], name)
	if err := t.coll.Maps["px_comms"].Put(key, uint8(1)); err != nil {
		return fmt.Errorf("targeting command %q: %w", name, err)
	}
	return nil
}

// AttachDuration is the time New took, from its call to the programs
// being attached.
func (t *Tracer) AttachDuration() time.Duration { return t.attach }

// Run reads events until ctx is done, then drains what is queued (for at
// most 250 ms) and returns nil. It also returns nil when the Tracer is closed. fn is called from one goroutine; the Event and its Data are
// reused after fn returns, so copy what you keep. Run must not be called
// concurrently with itself.
func (t *Tracer) Run(ctx context.Context, fn func(*conn.Event)) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(FlushInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				// Read returns what is queued, then ErrFlushed. (Not
				// SetDeadline: it waits for the lock a blocked Read holds.)
				_ = t.rd.Flush()
				return
			case <-tick.C:
				_ = t.rd.Flush()
			}
		}
	}()

	var (
		rec    ringbuf.Record
		ev     conn.Event
		dec    decoder
		n      uint64
		stopAt time.Time
	)
	for {
		// Under sustained load the ring may never empty after the final
		// Flush: bound the drain.
		if n++; n%256 == 0 && ctx.Err() != nil {
			if stopAt.IsZero() {
				stopAt = time.Now().Add(drainTimeout)
			} else if time.Now().After(stopAt) {
				return nil
			}
		}
		err := t.rd.ReadInto(&rec)
		switch {
		case err == nil:
		case errors.Is(err, ringbuf.ErrFlushed):
			if ctx.Err() != nil {
				return nil
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			return fmt.Errorf("reading ring buffer: %w", err)
		}
		if err := dec.decode(rec.RawSample, &ev); err != nil {
			t.decodeEr.Add(1)
			continue
		}
		if ev.Kind == conn.KindClose && ev.ID.FD == -1 {
			t.dropProcess(&ev, fn)
			continue
		}
		if ev.Kind == conn.KindFork { // not a socket event
			fn(&ev)
			continue
		}
		t.captured.Add(1)
		fn(&ev)
	}
}

// dropProcess handles px_exit_old's report that process exit.ID.TGID is
// gone: it removes the process's connections and reports their closes, as
// px_exit does in the kernel.
func (t *Tracer) dropProcess(exit *conn.Event, fn func(*conn.Event)) {
	m := t.coll.Maps["px_conns"]
	var (
		key  uint64
		val  socktracePxConn
		keys []uint64
		vals []socktracePxConn
	)
	for it := m.Iterate(); it.Next(&key, &val); {
		if uint32(key>>32) == exit.ID.TGID {
			keys = append(keys, key)
			vals = append(vals, val)
		}
	}
	for i, k := range keys {
		_ = m.Delete(k)
		_ = t.coll.Maps["px_h1s"].Delete(k) // summarized connections have no hand-off here
		ev := *exit
		ev.ID = conn.ID{TGID: exit.ID.TGID, FD: int32(uint32(k)), Gen: vals[i].Gen}
		ev.Role = conn.Role(vals[i].Role)
		ev.Transport = vals[i].Transport
		ev.Local = addrPort(&vals[i].Local)
		ev.Remote = addrPort(&vals[i].Remote)
		ev.SentBytes, ev.RecvBytes = vals[i].Pos[0], vals[i].Pos[1]
		t.captured.Add(1)
		fn(&ev)
	}
}

// ConnBytes calls fn with the socket bytes sent and received so far of
// every connection the kernel tracks now (the counts a close reports), so
// conn_stats can count open connections without their data events.
func (t *Tracer) ConnBytes(fn func(id conn.ID, sent, recv uint64)) error {
	var (
		key uint64
		val socktracePxConn
	)
	it := t.coll.Maps["px_conns"].Iterate()
	for it.Next(&key, &val) {
		fn(conn.ID{TGID: uint32(key >> 32), FD: int32(uint32(key)), Gen: val.Gen}, val.Pos[0], val.Pos[1])
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the connection table: %w", err)
	}
	return nil
}

// Stats returns the counters summed over CPUs and programs. After Close it
// returns the values Close saw.
func (t *Tracer) Stats() Stats {
	if f := t.final.Load(); f != nil {
		s := *f
		s.Captured = t.captured.Load()
		return s
	}
	s := Stats{
		Captured: t.captured.Load(),
		LostBy: map[string]uint64{
			LostRingFull: 0, LostTruncated: 0, LostReadFailed: 0, LostConnTableFull: 0,
			LostDecode: t.decodeEr.Load(), LostTLSNoFD: 0, LostTargetsFull: 0, LostArgsFull: 0, LostNConnsFull: 0, LostIOVCut: 0, LostMMsgCut: 0, LostH2Cut: 0,
		},
	}
	var perCPU []socktracePxCounters
	if err := t.coll.Maps["px_counts"].Lookup(uint32(0), &perCPU); err == nil {
		for _, c := range perCPU {
			s.Submitted += c.EventsSubmitted
			s.LostBy[LostRingFull] += c.RingFull
			s.LostBy[LostTruncated] += c.Truncated
			s.LostBy[LostReadFailed] += c.ReadFailed
			s.LostBy[LostConnTableFull] += c.ConnTableFull
			s.LostBy[LostTLSNoFD] += c.TlsNoFd
			s.LostBy[LostTargetsFull] += c.TargetsFull
			s.LostBy[LostArgsFull] += c.ArgsFull
			s.LostBy[LostNConnsFull] += c.NconnsFull
			s.LostBy[LostIOVCut] += c.IovCut
			s.LostBy[LostMMsgCut] += c.MmsgCut
			s.LostBy[LostH2Cut] += c.H2Cut
			s.TruncatedBytes += c.TruncatedBytes
		}
		if t.h1 {
			s.HTTP1Fallbacks = map[string]uint64{}
			for _, c := range perCPU {
				s.HTTP1Summaries += c.H1Summaries
				s.HTTP1Fallbacks[FallbackConn] += c.H1FbConn
				s.HTTP1Fallbacks[FallbackPipelined] += c.H1FbPipelined
				s.HTTP1Fallbacks[FallbackSplit] += c.H1FbSplit
				s.HTTP1Fallbacks[FallbackFraming] += c.H1FbFraming
				s.HTTP1Fallbacks[FallbackFull] += c.H1FbFull
			}
		}
	}
	for _, ps := range t.ProgramStats() {
		s.BPFRunNs += ps.RunNs
		s.BPFRunCount += ps.RunCount
	}
	return s
}

// ProgramStats returns each program's run-time stats, by program name
// (px_en_read, px_ex_read, ...). Benchmarks use it for ns per event.
func (t *Tracer) ProgramStats() map[string]ProgramStats {
	out := make(map[string]ProgramStats, len(t.coll.Programs))
	for name, p := range t.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		out[name] = ProgramStats{RunNs: uint64(st.Runtime), RunCount: st.RunCount}
	}
	return out
}

// Close detaches and frees everything. It is safe to call more than once
// and it makes a running Run return.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		if t.coll != nil {
			st := t.Stats()
			t.final.Store(&st)
		}
		if t.rd != nil {
			errs = append(errs, t.rd.Close())
		}
		errs = append(errs, t.closeTLS())
		// Each detach from a syscall tracepoint waits for an RCU grace
		// period (tens of ms); in parallel they share them (2 s -> ~0.1 s).
		linkErrs := make([]error, len(t.links))
		var wg sync.WaitGroup
		for i, l := range t.links {
			wg.Go(func() { linkErrs[i] = l.Close() })
		}
		wg.Wait()
		errs = append(errs, linkErrs...)
		if t.coll != nil {
			t.coll.Close()
		}
		if t.stats != nil {
			errs = append(errs, t.stats.Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// decoder turns ring-buffer records into conn.Event, interning comm strings.
type decoder struct {
	comms map[[16]int8]string
	// pieces is reused for each event's (events are not kept).
	pieces []conn.Piece
	// h1 is reused for each summary's.
	h1 conn.HTTP1Summary
}

var (
	hdrSize   = int(unsafe.Sizeof(socktracePxEvent{}))
	h1RecSize = int(unsafe.Sizeof(socktracePxH1Rec{}))
	// kindOff is where both records keep their kind.
	kindOff = int(unsafe.Offsetof(socktracePxEvent{}.Kind))
)

// The C struct px_h1_rec keeps its kind where px_event does.
var _ = [1]struct{}{}[unsafe.Offsetof(socktracePxH1Rec{}.Kind)-unsafe.Offsetof(socktracePxEvent{}.Kind)]

// h1Methods are enum px_h1_method's names.
var h1Methods = [...]string{1: "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}

var syscallNames = [...]string{
	1: "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "recvmmsg", "sendfile64", "connect", "accept", "accept4", "close", "exit",
	"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "tls.(*Conn).Write", "tls.(*Conn).Read",
	"splice",
}

func (d *decoder) decode(raw []byte, ev *conn.Event) error {
	if len(raw) > kindOff {
		if k := conn.Kind(raw[kindOff]); k == conn.KindHTTP1 || k == conn.KindHTTP1Handoff {
			return d.decodeHTTP1(raw, ev)
		}
	}
	if len(raw) < hdrSize {
		return fmt.Errorf("record of %d bytes, want >= %d", len(raw), hdrSize)
	}
	// The record layout is the C struct; amd64 and arm64 allow the
	// unaligned access this might be.
	h := (*socktracePxEvent)(unsafe.Pointer(&raw[0]))
	if int(h.DataLen)+int(h.PiecesLen) > len(raw)-hdrSize {
		return fmt.Errorf("record data_len %d and pieces_len %d exceed its %d bytes", h.DataLen, h.PiecesLen, len(raw)-hdrSize)
	}
	tail := int(h.TailLen)
	if tail > int(h.DataLen) {
		return fmt.Errorf("record tail_len %d exceeds its data_len %d", h.TailLen, h.DataLen)
	}
	*ev = conn.Event{
		Kind:      conn.Kind(h.Kind),
		ID:        conn.ID{TGID: h.Tgid, FD: h.Fd, Gen: h.Gen},
		PID:       h.Pid,
		Comm:      d.comm(h.Comm),
		StartNs:   h.StartNs,
		EndNs:     h.EndNs,
		Role:      conn.Role(h.Role),
		Transport: h.Transport,
		Local:     addrPort(&h.Local),
		Remote:    addrPort(&h.Remote),
		Dir:       conn.Dir(h.Dir),
		Pos:       h.Pos,
		Size:      h.Size,
		Data:      raw[hdrSize : hdrSize+int(h.DataLen)-tail : hdrSize+int(h.DataLen)-tail],
		Source:    conn.Source(h.Source),
	}
	if tail > 0 {
		ev.Tail = raw[hdrSize+int(h.DataLen)-tail : hdrSize+int(h.DataLen)]
	}
	if h.PiecesLen > 0 {
		at := hdrSize + int(h.DataLen)
		if err := d.decodePieces(raw[at:at+int(h.PiecesLen)], ev); err != nil {
			return err
		}
	}
	if ev.Kind == conn.KindClose {
		ev.SentBytes, ev.RecvBytes = h.Pos, h.OtherPos
		ev.Pos = 0
	}
	if ev.Kind == conn.KindData {
		// Lets the tracker see a loss in the other direction at once.
		ev.OtherPos, ev.HasOtherPos = h.OtherPos, true
	}
	if int(h.Syscall) < len(syscallNames) {
		ev.Syscall = syscallNames[h.Syscall]
	}
	if h.HasPeer != 0 {
		if p := addrPort(&h.Peer); p != ev.Remote {
			ev.Peer = p
		}
	}
	return nil
}

// decodeHTTP1 reads a px_h1_rec: an exchange summarized in the kernel.
func (d *decoder) decodeHTTP1(raw []byte, ev *conn.Event) error {
	if len(raw) < h1RecSize {
		return fmt.Errorf("summary record of %d bytes, want %d", len(raw), h1RecSize)
	}
	h := (*socktracePxH1Rec)(unsafe.Pointer(&raw[0]))
	if int(h.Method) >= len(h1Methods) || h.Method == 0 || int(h.PathLen) > len(h.Path) || h.State > uint8(conn.HTTP1RespBody) {
		return fmt.Errorf("summary record with method %d, path length %d, state %d", h.Method, h.PathLen, h.State)
	}
	off := int(unsafe.Offsetof(h.Path))
	d.h1 = conn.HTTP1Summary{
		Method:   h1Methods[h.Method],
		Target:   raw[off : off+int(h.PathLen) : off+int(h.PathLen)],
		Minor:    int(h.Minor),
		Status:   int(h.Status),
		ReqBody:  int64(h.ReqBody),
		RespBody: int64(h.RespBody),
		StartNs:  h.StartNs,
		EndNs:    h.EndNs,
		Pos:      [2]uint64{h.Pos, h.OtherPos},
		Handoff:  conn.Kind(h.Kind) == conn.KindHTTP1Handoff,
		State:    conn.HTTP1State(h.State),
		Remain:   int64(h.Remain),
	}
	*ev = conn.Event{
		Kind:      conn.Kind(h.Kind),
		ID:        conn.ID{TGID: h.Tgid, FD: h.Fd, Gen: h.Gen},
		PID:       h.Pid,
		StartNs:   h.StartNs,
		EndNs:     h.EndNs,
		Role:      conn.Role(h.Role),
		Transport: conn.TransportTCP,
		HTTP1:     &d.h1,
	}
	return nil
}

// decodePieces reads the pieces of a cut call's middle: each an offset
// and a length (struct px_piece) and its bytes, in order, between the
// captured head and the tail.
func (d *decoder) decodePieces(b []byte, ev *conn.Event) error {
	d.pieces = d.pieces[:0]
	at, end := uint64(len(ev.Data)), uint64(ev.Size)-uint64(len(ev.Tail))
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("record pieces: %d bytes left, want a header of 8", len(b))
		}
		off, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if uint64(off) < at || uint64(off)+uint64(n) > end || uint64(n) > uint64(len(b)-8) || n == 0 {
			return fmt.Errorf("record piece of %d bytes at %d: outside [%d, %d) or its record", n, off, at, end)
		}
		d.pieces = append(d.pieces, conn.Piece{Off: off, Data: b[8 : 8+n : 8+n]})
		at = uint64(off) + uint64(n)
		b = b[8+n:]
	}
	ev.Pieces = d.pieces
	return nil
}

func (d *decoder) comm(c [16]int8) string {
	if s, ok := d.comms[c]; ok {
		return s
	}
	if d.comms == nil || len(d.comms) > 4096 {
		d.comms = make(map[[16]int8]string)
	}
	b := make([]byte, 0, 16)
	for _, ch := range c {
		if ch == 0 {
			break
		}
		b = append(b, byte(ch))
	}
	s := string(b)
	d.comms[c] = s
	return s
}

func addrPort(a *socktracePxAddr) netip.AddrPort {
	switch a.Family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.Addr[:4])), a.Port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), a.Port)
	}
	return netip.AddrPort{}
}
