//go:build linux

package unwind

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procReadMaps reads the executable, file-backed lines of /proc/<pid>/maps.
func (u *Unwinder) procReadMaps(pid uint32) ([]mapping, error) {
	b, err := os.ReadFile(filepath.Join(u.procRoot, strconv.FormatUint(uint64(pid), 10), "maps"))
	if err != nil {
		return nil, fmt.Errorf("reading mappings of pid %d: %w", pid, err)
	}
	return parseMaps(b), nil
}

// parseMaps parses /proc/<pid>/maps text, keeping executable mappings.
func parseMaps(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode [path]
		f := strings.Fields(sc.Text())
		if len(f) < 5 || len(f[1]) < 3 || f[1][2] != 'x' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		inode, err4 := strconv.ParseUint(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || end <= start {
			continue
		}
		m := mapping{start: start, end: end, off: off, dev: f[3], inode: inode}
		if len(f) > 5 {
			m.path = pathField(sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// procOpenModule opens the file behind m as the process sees it: through
// its root (containers), or map_files when the path is gone or replaced.
func (u *Unwinder) procOpenModule(pid uint32, m *mapping) (*module, error) {
	dir := filepath.Join(u.procRoot, strconv.FormatUint(uint64(pid), 10))
	var paths []string
	if strings.HasPrefix(m.path, "/") && !strings.HasSuffix(m.path, " (deleted)") {
		paths = append(paths, filepath.Join(dir, "root", m.path))
	}
	paths = append(paths, filepath.Join(dir, "map_files", fmt.Sprintf("%x-%x", m.start, m.end)))
	var lastErr error = fmt.Errorf("no file behind mapping %x-%x of pid %d", m.start, m.end, pid)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			lastErr = err
			continue
		}
		if st, err := f.Stat(); err != nil || !sameInode(st, m.inode) {
			f.Close()
			lastErr = fmt.Errorf("%s is not the mapped file (inode changed)", p)
			continue
		}
		mod, err := loadModule(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return mod, nil
	}
	return nil, lastErr
}

// pathField returns everything after the fifth field (paths may contain spaces).
func pathField(line string) string {
	s := line
	for range 5 {
		s = strings.TrimLeft(s, " \t")
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return ""
		}
		s = s[i:]
	}
	return strings.TrimLeft(s, " \t")
}

func sameInode(st os.FileInfo, inode uint64) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Ino == inode
}
