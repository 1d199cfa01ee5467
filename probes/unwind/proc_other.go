//go:build !linux

package unwind

func (u *Unwinder) procReadMaps(pid uint32) ([]mapping, error) { return nil, errNoProc }

func (u *Unwinder) procOpenModule(pid uint32, m *mapping) (*module, error) { return nil, errNoProc }
