//go:build linux

package socktrace

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// pidMaxLimit is the kernel's PID_MAX_LIMIT on 64-bit: no tgid reaches it.
const pidMaxLimit = 1 << 22

// forceTargetHash makes New keep every target in the px_targets hash, as
// for tgids above pid_max (tests).
var forceTargetHash = false

// pidSlots is how many tgids px_tslots covers: pid_max, rounded up to a
// page (4 MiB at most, where systemd raised pid_max to the limit).
func pidSlots() uint32 {
	if forceTargetHash {
		return 0
	}
	n := pidMaxLimit
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 && v < n {
			n = v
		}
	}
	page := os.Getpagesize()
	return uint32((n + page - 1) / page * page)
}

// sizeTargetSlots gives px_tslots one byte per tgid below slots. Its value
// size differs from the object's, so the map goes without BTF.
func sizeTargetSlots(spec *ebpf.CollectionSpec, slots uint32) {
	m := spec.Maps["px_tslots"]
	if slots > 0 {
		m.ValueSize = slots
	}
	m.Key, m.Value = nil, nil
}

// mapTargetSlots maps px_tslots into memory, so that AddPID and RemovePID
// write a target's byte directly (a map update would copy all of it).
func (t *Tracer) mapTargetSlots(slots uint32) error {
	t.slots = slots
	if slots == 0 {
		return nil
	}
	mem, err := t.coll.Maps["px_tslots"].Memory()
	if err != nil {
		return fmt.Errorf("mapping the target table into memory (needs Linux >= 5.5): %w", err)
	}
	t.slotMem = mem
	return nil
}

// AddPID starts tracing the process tgid (and processes it forks from now on).
func (t *Tracer) AddPID(tgid uint32) error {
	if tgid < t.slots {
		if _, err := t.slotMem.WriteAt([]byte{1}, int64(tgid)); err != nil {
			return fmt.Errorf("targeting pid %d: %w", tgid, err)
		}
		return nil
	}
	if err := t.coll.Maps["px_targets"].Put(tgid, uint8(1)); err != nil {
		return fmt.Errorf("targeting pid %d: %w", tgid, err)
	}
	return nil
}

// RemovePID stops tracing tgid. Removing an untraced pid is not an error.
func (t *Tracer) RemovePID(tgid uint32) error {
	if tgid < t.slots {
		if _, err := t.slotMem.WriteAt([]byte{0}, int64(tgid)); err != nil {
			return fmt.Errorf("untargeting pid %d: %w", tgid, err)
		}
	} else if err := t.coll.Maps["px_targets"].Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("untargeting pid %d: %w", tgid, err)
	}
	return t.dropArgs(tgid)
}

// dropArgs deletes the saved arguments of tgid's threads. Exits of
// untargeted threads do not consume theirs, so a call in flight now would
// otherwise pair with the exit of a call made after tgid is targeted again.
func (t *Tracer) dropArgs(tgid uint32) error {
	m := t.coll.Maps["px_args"]
	var (
		key  uint64
		args socktracePxArgs
		mine []uint64
	)
	it := m.Iterate()
	for it.Next(&key, &args) {
		if uint32(key>>32) == tgid {
			mine = append(mine, key)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("untargeting pid %d: %w", tgid, err)
	}
	for _, k := range mine {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("untargeting pid %d: %w", tgid, err)
		}
	}
	return nil
}

// isTargeted reports whether the kernel side targets tgid (tests).
func (t *Tracer) isTargeted(tgid uint32) (bool, error) {
	if tgid < t.slots {
		var b [1]byte
		_, err := t.slotMem.ReadAt(b[:], int64(tgid))
		return b[0] != 0, err
	}
	var v uint8
	err := t.coll.Maps["px_targets"].Lookup(tgid, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	return err == nil, err
}
