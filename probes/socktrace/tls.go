//go:build linux

package socktrace

import (
	"bufio"
	"crypto/md5"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/arch/x86/x86asm"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/gotext"
)

// tlsSupported: the uprobe programs read x86-64 registers.
var tlsSupported = runtime.GOARCH == "amd64"

// TLS library kinds of TLSTarget.
const (
	TLSOpenSSL = "openssl"
	TLSGo      = "go"
)

// Go crypto/tls symbols probed.
const (
	goTLSWrite = "crypto/tls.(*Conn).Write"
	goTLSRead  = "crypto/tls.(*Conn).Read"
)

// opensslFuncs are the uprobed OpenSSL entry points and their programs
// (entry, return). Each _ex form and its plain form call a common internal
// function, so probing both counts no byte twice. SSL_free forgets the
// socket learned for an SSL* (memory BIOs, as Node's: px_tls_pending).
var opensslFuncs = []struct{ sym, enter, ret string }{
	{"SSL_write", "px_ssl_wr", "px_ssl_wr_ret"},
	{"SSL_read", "px_ssl_rd", "px_ssl_rd_ret"},
	{"SSL_write_ex", "px_ssl_wrex", "px_ssl_wrex_ret"},
	{"SSL_read_ex", "px_ssl_rdex", "px_ssl_rdex_ret"},
	{"SSL_free", "px_ssl_free", ""},
}

// TLSTarget says what AttachTLS attached in one process (or, with PID 0,
// for every targeted process using a library).
type TLSTarget struct {
	PID    uint32
	Kind   string // TLSOpenSSL or TLSGo
	Path   string // library or executable, as opened
	Probes int
	// ByCode: the libssl.a whose code found OpenSSL in a stripped
	// executable (tls_stripped.go); "" when found by symbol.
	ByCode string
}

func (t TLSTarget) String() string {
	who := fmt.Sprintf("pid %d", t.PID)
	if t.PID == 0 {
		who = "every traced process"
	}
	if t.ByCode != "" {
		return fmt.Sprintf("%s uprobes on %s (%s, %d probes, stripped: found by the code of %s)", t.Kind, who, filepath.Base(t.Path), t.Probes, t.ByCode)
	}
	return fmt.Sprintf("%s uprobes on %s (%s, %d probes)", t.Kind, who, filepath.Base(t.Path), t.Probes)
}

type fileKey struct{ dev, ino uint64 }

// staticSSL: whether an executable has OpenSSL linked in, and where its
// functions are when found by code (nil when found by symbol).
type staticSSL struct {
	found   bool
	offs    map[string]uint64
	archive string
}

type tlsState struct {
	perExe bool // Config.TLSPerExecutable
	perPID map[uint32][]link.Link
	global map[fileKey]bool // libraries and executables probed for every targeted process
	links  []link.Link      // global ones
	goSyms map[fileKey]*GoTLSOffsets
	sslExe map[fileKey]staticSSL
	// libRoot: the root AttachTLSLibraries searched, where a libssl.a
	// for stripped executables is looked for too.
	libRoot string
	sslPats map[fileKey][]codePattern // by libssl.a
	pruned  time.Time                 // of perPID, at most every pruneEvery
}

// pruneEvery: targets call AttachTLS for each of their processes at every
// scan, so exited processes are looked for at most this often.
const pruneEvery = 400 * time.Millisecond

// goTypeHashes are the Go compiler's hash of a type (by its link name), as
// its type descriptor and itabs hold it: the first 4 bytes, little-endian,
// of md5(name) up to Go 1.23 and of sha256(name) with byte 0 inverted
// since (cmd/compile/internal/types.TypeHash).
func goTypeHashes(name string) (md5Hash, shaHash uint32) {
	m := md5.Sum([]byte(name))
	h := sha256.Sum256([]byte(name))
	h[0] ^= 0xff
	return binary.LittleEndian.Uint32(m[:4]), binary.LittleEndian.Uint32(h[:4])
}

func isUprobe(section string) bool {
	return strings.HasPrefix(section, "uprobe/") || strings.HasPrefix(section, "uretprobe/")
}

func keyOf(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, fmt.Errorf("stat %s: no inode", path)
	}
	return fileKey{uint64(st.Dev), st.Ino}, nil
}

// LibSSLPath returns the libssl a process has mapped, as a path that this
// process can open (through procRoot/PID/root, so containers work), or ""
// when the process has none.
func LibSSLPath(procRoot string, pid uint32) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(int(pid)), "maps"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// addr perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		if base := filepath.Base(fields[5]); strings.HasPrefix(base, "libssl.so") {
			return filepath.Join(procRoot, strconv.Itoa(int(pid)), "root", fields[5]), nil
		}
	}
	return "", sc.Err()
}

// GoTLSOffsets are the file offsets of crypto/tls.(*Conn).Write and Read
// in a Go executable, where their calls are probed, and of every RET
// instruction of Read.
type GoTLSOffsets struct {
	Write, Read uint64 // the entries
	// WriteCall and ReadCall are where a call is probed: the conditional
	// jump of the function's stack check when it starts with one, else its
	// entry. The kernel emulates a jump but single-steps the compare before
	// it out of line, a second trap: 20-27 µs a hit on a Firecracker guest
	// against 8 (make bench-uprobe). The arguments are still in their
	// registers there: the check writes only flags (and R12, a scratch
	// register, for a large frame).
	WriteCall, ReadCall uint64
	ReadRets            []uint64
}

// errNotGoTLS: the executable has no crypto/tls symbols (not Go, not
// using TLS, or stripped).
var errNotGoTLS = errors.New("no crypto/tls symbols")

// FindGoTLS reads the symbol table of a Go executable (amd64) and decodes
// (*Conn).Read to find its RET instructions: Go moves goroutine stacks, so
// uretprobes (which rewrite the return address on the stack) would crash
// it; uprobes at each RET see the results in registers instead.
func FindGoTLS(path string) (*GoTLSOffsets, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: %v executable, only x86-64 is supported: %w", path, f.Machine, errNotGoTLS)
	}
	// The probes read arguments from registers: Go's register ABI (1.17).
	if bi, err := buildinfo.ReadFile(path); err == nil && version.IsValid(bi.GoVersion) && version.Compare(bi.GoVersion, "go1.17") < 0 {
		return nil, fmt.Errorf("%s: built by %s, TLS tracing needs Go >= 1.17: %w", path, bi.GoVersion, errNotGoTLS)
	}
	w, r := goFuncs(f)
	if w == nil || r == nil {
		return nil, fmt.Errorf("%s: %w", path, errNotGoTLS)
	}
	off := &GoTLSOffsets{}
	if off.Write, err = fileOffset(f, w.entry); err != nil {
		return nil, err
	}
	if off.Read, err = fileOffset(f, r.entry); err != nil {
		return nil, err
	}
	text := f.Section(".text")
	wcode, err := funcCode(text, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, goTLSWrite, err)
	}
	code, err := funcCode(text, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, goTLSRead, err)
	}
	off.WriteCall = off.Write + StackCheckJump(wcode)
	off.ReadCall = off.Read + StackCheckJump(code)
	for i := 0; i < len(code); {
		inst, err := x86asm.Decode(code[i:], 64)
		if err != nil {
			i++ // padding (int3) or data: skip a byte
			continue
		}
		if inst.Op == x86asm.RET {
			off.ReadRets = append(off.ReadRets, off.Read+uint64(i))
		}
		i += inst.Len
	}
	if len(off.ReadRets) == 0 {
		return nil, fmt.Errorf("%s: no RET found in %s", path, goTLSRead)
	}
	return off, nil
}

type funcRange struct{ entry, end uint64 }

// funcCode reads a function's machine code from .text.
func funcCode(text *elf.Section, fr *funcRange) ([]byte, error) {
	if text == nil || fr.entry < text.Addr || fr.end <= fr.entry || fr.end-fr.entry > 1<<20 {
		return nil, fmt.Errorf("at %#x, outside .text", fr.entry)
	}
	code := make([]byte, fr.end-fr.entry)
	if _, err := text.ReadAt(code, int64(fr.entry-text.Addr)); err != nil {
		return nil, err
	}
	return code, nil
}

// StackCheckJump is the offset in a Go function's code of the conditional
// jump that ends its stack check, when the function starts with one:
//
//	[LEAQ -n(SP), R12]      a frame larger than 128 bytes
//	CMPQ SP|R12, 16(R14)    R14 is the goroutine; 16 its stack guard
//	JBE morestack
//
// Else 0: the entry.
func StackCheckJump(code []byte) uint64 {
	i, compared := 0, false
	for range 3 {
		inst, err := x86asm.Decode(code[i:], 64)
		if err != nil {
			return 0
		}
		switch {
		case inst.Op == x86asm.LEA && i == 0 && inst.Args[0] == x86asm.R12:
		case inst.Op == x86asm.CMP && !compared && (inst.Args[0] == x86asm.RSP || inst.Args[0] == x86asm.R12) && guard(inst.Args[1]):
			compared = true
		case inst.Op == x86asm.JBE && compared:
			return uint64(i)
		default:
			return 0
		}
		i += inst.Len
	}
	return 0
}

// guard: the operand is 16(R14), the goroutine's stack guard.
func guard(a x86asm.Arg) bool {
	m, ok := a.(x86asm.Mem)
	return ok && m.Base == x86asm.R14 && m.Disp == 16 && m.Index == 0 && m.Segment == 0
}

// goFuncs finds (*Conn).Write and Read in the pclntab that the Go runtime
// itself needs (so stripped binaries too: go test and many release
// builds), reading only what it must (pclnLookup); older formats through
// the symbol table or debug/gosym.
func goFuncs(f *elf.File) (w, r *funcRange) {
	sec, text := f.Section(".gopclntab"), f.Section(".text")
	if sec == nil || text == nil {
		return nil, nil
	}
	start := gotext.Start(f) // not .text in a cgo link
	if w, r, ok := pclnLookup(sec, start); ok {
		return w, r
	}
	// Older table formats: the symbol table, else the whole pclntab.
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			switch s.Name {
			case goTLSWrite:
				w = &funcRange{s.Value, s.Value + s.Size}
			case goTLSRead:
				r = &funcRange{s.Value, s.Value + s.Size}
			}
		}
		if w != nil && r != nil {
			return w, r
		}
	}
	data, err := sec.Data()
	if err != nil {
		return nil, nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, start))
	if err != nil {
		return nil, nil
	}
	if fn := tab.LookupFunc(goTLSWrite); fn != nil {
		w = &funcRange{fn.Entry, fn.End}
	}
	if fn := tab.LookupFunc(goTLSRead); fn != nil {
		r = &funcRange{fn.Entry, fn.End}
	}
	return w, r
}

func fileOffset(f *elf.File, vaddr uint64) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Memsz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no executable segment", vaddr)
}

// AttachTLS attaches the TLS uprobes to process pid, filtered to it by the
// kernel: OpenSSL when it maps libssl (unless AttachTLSLibraries already
// covers that library) or else when its executable defines SSL_write or
// SSL_read (statically linked), and crypto/tls when its executable is a Go
// program. A process with neither gets nothing and no error. It is a
// no-op for a pid already holding probes. Errors say what failed, with a remedy.
func (t *Tracer) AttachTLS(procRoot string, pid uint32) ([]TLSTarget, error) {
	if !tlsSupported {
		return nil, nil
	}
	if t.tls.perPID == nil {
		t.tls.perPID = map[uint32][]link.Link{}
	}
	if now := time.Now(); now.Sub(t.tls.pruned) >= pruneEvery {
		t.tls.pruned = now
		t.pruneTLS(procRoot)
	}
	if _, ok := t.tls.perPID[pid]; ok {
		return nil, nil
	}
	t.tls.perPID[pid] = nil
	var (
		out  []TLSTarget
		errs []error
	)
	add := func(tg *TLSTarget, err error) {
		if err != nil {
			errs = append(errs, err)
		}
		if tg != nil {
			out = append(out, *tg)
		}
	}
	lib, err := LibSSLPath(procRoot, pid)
	if errors.Is(err, os.ErrNotExist) {
		delete(t.tls.perPID, pid) // it exited
		return nil, nil
	}
	exe := filepath.Join(procRoot, strconv.Itoa(int(pid)), "exe")
	switch {
	case err != nil:
		errs = append(errs, err)
	case lib != "":
		add(t.openSSLTarget(lib, lib, pid, staticSSL{}))
	default:
		add(t.staticOpenSSL(procRoot, exe, pid))
	}
	add(t.goTarget(exe, pid))
	if len(t.tls.perPID[pid]) == 0 {
		// Nothing to detach: keep the map (which each call prunes) to
		// the processes holding probes, not every process --all finds.
		delete(t.tls.perPID, pid)
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("TLS uprobes on pid %d (its HTTPS stays unreadable; check that the tracer may read /proc/%d and that uprobes work, e.g. `bpftrace -e 'uprobe:/lib/x86_64-linux-gnu/libc.so.6:getpid {}'`): %w", pid, pid, err)
	}
	return out, nil
}

// openSSLTarget probes OpenSSL at path (a libssl, or an executable that
// links it statically) for pid, unless every process has it probed.
func (t *Tracer) openSSLTarget(path, name string, pid uint32, st staticSSL) (*TLSTarget, error) {
	k, err := keyOf(path)
	if err != nil || t.tls.global[k] {
		return nil, nil
	}
	ls, err := t.attachOpenSSL(path, int(pid), st.offs)
	t.tls.perPID[pid] = append(t.tls.perPID[pid], ls...)
	if err != nil {
		return nil, err
	}
	return &TLSTarget{PID: pid, Kind: TLSOpenSSL, Path: name, Probes: len(ls), ByCode: st.archive}, nil
}

// staticOpenSSL probes OpenSSL linked into the executable itself, found
// by its SSL_write/SSL_read symbols or, stripped, by the code of a
// libssl.a (tls_stripped.go). What each executable has is kept per file.
func (t *Tracer) staticOpenSSL(procRoot, exe string, pid uint32) (*TLSTarget, error) {
	k, err := keyOf(exe)
	if err != nil {
		return nil, nil // exited, or not readable: the maps said so already
	}
	if t.tls.sslExe == nil {
		t.tls.sslExe = map[fileKey]staticSSL{}
	}
	st, seen := t.tls.sslExe[k]
	if !seen {
		st.found = exportsOpenSSL(exe)
		if !st.found {
			st, err = t.strippedOpenSSL(procRoot, exe, pid)
		}
		t.tls.sslExe[k] = st
		if err != nil {
			return nil, err
		}
	}
	if !st.found {
		return nil, nil
	}
	name := exe
	if real, err := os.Readlink(exe); err == nil {
		name = real
	}
	return t.openSSLTarget(exe, name, pid, st)
}

// strippedOpenSSL looks for OpenSSL in exe by the code of the first
// libssl.a found in the process's root, else in the root of
// AttachTLSLibraries. Without one, nothing is found.
func (t *Tracer) strippedOpenSSL(procRoot, exe string, pid uint32) (staticSSL, error) {
	roots := []string{filepath.Join(procRoot, strconv.Itoa(int(pid)), "root")}
	if t.tls.libRoot != "" {
		roots = append(roots, t.tls.libRoot)
	}
	for _, root := range roots {
		for _, a := range sslArchives {
			archive := filepath.Join(root, a)
			k, err := keyOf(archive)
			if err != nil {
				continue
			}
			if t.tls.sslPats == nil {
				t.tls.sslPats = map[fileKey][]codePattern{}
			}
			pats, seen := t.tls.sslPats[k]
			if !seen {
				pats, err = opensslPatterns(archive)
				t.tls.sslPats[k] = pats
				if err != nil {
					return staticSSL{}, fmt.Errorf("stripped OpenSSL cannot be looked for: %w", err)
				}
			}
			if pats == nil {
				return staticSSL{}, nil
			}
			offs, err := findStripped(exe, pats)
			return staticSSL{found: offs != nil, offs: offs, archive: "/" + a}, err
		}
	}
	return staticSSL{}, nil
}

// exportsOpenSSL reports whether an executable defines SSL_write or
// SSL_read in its dynamic or full symbol table.
func exportsOpenSSL(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, table := range []func() ([]elf.Symbol, error){f.DynamicSymbols, f.Symbols} {
		syms, _ := table()
		for _, s := range syms {
			if (s.Name == "SSL_write" || s.Name == "SSL_read") && s.Value != 0 && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				return true
			}
		}
	}
	return false
}

// goTarget probes crypto/tls in a Go executable (nothing for others).
func (t *Tracer) goTarget(exe string, pid uint32) (*TLSTarget, error) {
	n, err := t.attachGo(exe, pid)
	if err != nil {
		if errors.Is(err, errNotGoTLS) || errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	target := &TLSTarget{PID: pid, Kind: TLSGo, Path: exe, Probes: n}
	if t.tls.perExe {
		target.PID = 0
		if real, err := os.Readlink(exe); err == nil {
			target.Path = real // name the executable, not /proc/PID/exe
		}
	}
	return target, nil
}

// AttachTLSLibraries probes the OpenSSL libraries found in the usual
// library directories under root ("/" on the host) for every process the
// tracer targets, including those that start later (AddComm follows
// execs; a short-lived curl is gone before a scan of /proc sees it). The
// filter is then in the BPF program, so every process using the library
// pays a uprobe trap per SSL call while the tracer runs.
func (t *Tracer) AttachTLSLibraries(root string) ([]TLSTarget, error) {
	if !tlsSupported {
		return nil, nil
	}
	if t.tls.global == nil {
		t.tls.global = map[fileKey]bool{}
	}
	t.tls.libRoot = root
	var (
		out  []TLSTarget
		errs []error
	)
	for _, pat := range []string{"lib", "usr/lib", "lib64", "usr/lib64", "usr/local/lib", "usr/local/lib64"} {
		for _, sub := range []string{"", "*-linux-gnu*"} {
			matches, _ := filepath.Glob(filepath.Join(root, pat, sub, "libssl.so.*"))
			for _, lib := range matches {
				k, err := keyOf(lib)
				if err != nil || t.tls.global[k] {
					continue
				}
				t.tls.global[k] = true
				ls, err := t.attachOpenSSL(lib, 0, nil)
				t.tls.links = append(t.tls.links, ls...)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out = append(out, TLSTarget{Kind: TLSOpenSSL, Path: lib, Probes: len(ls)})
			}
		}
	}
	return out, errors.Join(errs...)
}

// attachOpenSSL probes opensslFuncs in lib by symbol or, with offs, at
// those file offsets (a function missing from offs is not probed).
func (t *Tracer) attachOpenSSL(lib string, pid int, offs map[string]uint64) ([]link.Link, error) {
	ex, err := link.OpenExecutable(lib)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", lib, err)
	}
	var ls []link.Link
	for _, fn := range opensslFuncs {
		opts := &link.UprobeOptions{PID: pid}
		if offs != nil {
			if opts.Address = offs[fn.sym]; opts.Address == 0 {
				continue
			}
		}
		l, err := ex.Uprobe(fn.sym, t.coll.Programs[fn.enter], opts)
		if errors.Is(err, link.ErrNoSymbol) {
			continue // OpenSSL 1.1.0 has no _ex
		}
		if err != nil {
			return ls, fmt.Errorf("uprobe %s in %s: %w", fn.sym, lib, err)
		}
		ls = append(ls, l)
		if fn.ret == "" {
			continue
		}
		if l, err = ex.Uretprobe(fn.sym, t.coll.Programs[fn.ret], opts); err != nil {
			return ls, fmt.Errorf("uretprobe %s in %s: %w", fn.sym, lib, err)
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("%s exports none of SSL_write, SSL_read", lib)
	}
	return ls, nil
}

func (t *Tracer) attachGo(exe string, pid uint32) (int, error) {
	k, err := keyOf(exe)
	if err != nil {
		return 0, err
	}
	if t.tls.goSyms == nil {
		t.tls.goSyms = map[fileKey]*GoTLSOffsets{}
	}
	off, seen := t.tls.goSyms[k]
	if !seen {
		off, err = FindGoTLS(exe)
		if err != nil && !errors.Is(err, errNotGoTLS) {
			return 0, err
		}
		t.tls.goSyms[k] = off // nil: not Go TLS
	}
	if off == nil {
		return 0, errNotGoTLS
	}
	filter := int(pid)
	if t.tls.perExe {
		if t.tls.global[k] {
			return 0, nil // probed for every process running it
		}
		if t.tls.global == nil {
			t.tls.global = map[fileKey]bool{}
		}
		t.tls.global[k] = true
		filter = 0
	}
	ex, err := link.OpenExecutable(exe)
	if err != nil {
		return 0, err
	}
	probe := func(prog string, addr uint64) error {
		l, err := ex.Uprobe(goTLSRead, t.coll.Programs[prog], &link.UprobeOptions{PID: filter, Address: addr})
		if err != nil {
			return fmt.Errorf("uprobe %s at %#x in %s: %w", prog, addr, exe, err)
		}
		if filter == 0 {
			t.tls.links = append(t.tls.links, l)
		} else {
			t.tls.perPID[pid] = append(t.tls.perPID[pid], l)
		}
		return nil
	}
	// At a stack check's jump, the _chk programs skip the run that goes
	// to morestack (the call starts again).
	write, read := "px_go_write", "px_go_read"
	if off.WriteCall != off.Write {
		write = "px_go_write_chk"
	}
	if off.ReadCall != off.Read {
		read = "px_go_read_chk"
	}
	n := 0
	if err := probe(write, off.WriteCall); err != nil {
		return n, err
	}
	if err := probe(read, off.ReadCall); err != nil {
		return n + 1, err
	}
	n += 2
	for _, r := range off.ReadRets {
		if err := probe("px_go_read_ret", r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// pruneTLS detaches the probes of processes that exited.
func (t *Tracer) pruneTLS(procRoot string) {
	for pid, ls := range t.tls.perPID {
		if _, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(int(pid)))); err == nil {
			continue
		}
		for _, l := range ls {
			l.Close()
		}
		delete(t.tls.perPID, pid)
	}
}

func (t *Tracer) closeTLS() error {
	var errs []error
	for _, ls := range t.tls.perPID {
		for _, l := range ls {
			errs = append(errs, l.Close())
		}
	}
	for _, l := range t.tls.links {
		errs = append(errs, l.Close())
	}
	t.tls = tlsState{}
	return errors.Join(errs...)
}
