package unwind

// FunctionStarts returns the initial location of every FDE in .eh_frame
// contents data, loaded at link-time address addr: the start of each
// function the compiler described (socktrace matches OpenSSL's code only
// there). Broken entries are passed over; a broken length ends the scan.
func FunctionStarts(data []byte, addr uint64) map[uint64]bool {
	f := newEHFrame(data, addr, nil, 0)
	starts := map[uint64]bool{}
	_ = f.forEach(func(_ uint64, d *fde, err error) bool {
		if err == nil {
			starts[d.begin] = true
		}
		return len(starts) < 1<<22
	})
	return starts
}
