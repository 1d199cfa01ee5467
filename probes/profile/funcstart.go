//go:build linux

package profile

import (
	"fmt"
	"strconv"
	"strings"
)

// StartName names an address no symbol covers ("[libc.so.6+0x3f9a3]") by
// the start of its function instead ("[libc.so.6+0x3f960]"), as start
// finds it in the module's CFI, so every sample in one static function of
// a stripped library folds into one frame instead of one per address.
// pc and leaf are what Symbolizer.User was given; other names come back
// unchanged.
func StartName(name string, pc uint64, leaf bool, start func(pc uint64) (uint64, bool)) string {
	mod, off, ok := parseUnnamed(name)
	if !ok || start == nil {
		return name
	}
	if !leaf && pc > 0 {
		pc-- // as User looked it up
	}
	fs, ok := start(pc)
	if !ok || fs > pc || pc-fs > off {
		return name
	}
	return fmt.Sprintf("[%s+0x%x]", mod, off-(pc-fs))
}

// parseUnnamed splits "[module+0xoffset]".
func parseUnnamed(name string) (mod string, off uint64, ok bool) {
	inner, found := strings.CutPrefix(name, "[")
	if !found {
		return "", 0, false
	}
	inner, found = strings.CutSuffix(inner, "]")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndex(inner, "+0x")
	if i <= 0 {
		return "", 0, false
	}
	off, err := strconv.ParseUint(inner[i+3:], 16, 64)
	if err != nil {
		return "", 0, false
	}
	return inner[:i], off, true
}
