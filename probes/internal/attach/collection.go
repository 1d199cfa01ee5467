//go:build linux

package attach

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// maxLoaders bounds the programs verified at once: the verifier runs in
// the loading thread, so more than the CPUs only queue.
const maxLoaders = 4

// LoadCollection is ebpf.NewCollection with the programs loaded on up to
// min(GOMAXPROCS, 4) goroutines. The kernel verifies a program in the
// thread that loads it, and one after another the socket tracer's ~60
// programs were most of its attach time (0.36 of 0.5 s here, the mmsg
// exits 80 ms each). The maps are made first, once; each program is then
// loaded against them, the largest first so the last to finish is small.
// kernelBTF, when not nil, holds the kernel's types already decoded.
func LoadCollection(spec *ebpf.CollectionSpec, kernelBTF *btf.Cache) (*ebpf.Collection, error) {
	if kernelBTF == nil {
		kernelBTF = btf.NewCache()
	}
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(spec.Programs))
	for name, ps := range spec.Programs {
		if ps.Type != ebpf.UnspecifiedProgram {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(spec.Programs[b].Instructions), len(spec.Programs[a].Instructions)), cmp.Compare(a, b))
	})

	opts := ebpf.CollectionOptions{MapReplacements: maps.Maps, Cache: kernelBTF}
	var (
		mu    sync.Mutex
		progs = map[string]*ebpf.Program{}
		errs  = map[string]error{}
		next  = make(chan string)
		wg    sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), maxLoaders, max(len(names), 1)) {
		wg.Go(func() {
			for name := range next {
				p, err := loadProgram(spec, name, opts)
				mu.Lock()
				if err != nil {
					errs[name] = err
				} else {
					progs[name] = p
				}
				mu.Unlock()
			}
		})
	}
	for _, name := range names {
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			break
		}
		next <- name
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		for _, p := range progs {
			_ = p.Close()
		}
		maps.Close()
		// The first in load order, for the same error on every run.
		for _, name := range names {
			if err := errs[name]; err != nil {
				return nil, err
			}
		}
	}
	maps.Programs = progs
	return maps, nil
}

// loadProgram loads program name of spec alone, against the maps in opts.
func loadProgram(spec *ebpf.CollectionSpec, name string, opts ebpf.CollectionOptions) (*ebpf.Program, error) {
	// No Variables: they would map the data sections' memory again for
	// each program; the Collection's are the maps-only load's.
	one := &ebpf.CollectionSpec{
		Maps:      spec.Maps,
		Programs:  map[string]*ebpf.ProgramSpec{name: spec.Programs[name]},
		Types:     spec.Types,
		ByteOrder: spec.ByteOrder,
	}
	c, err := ebpf.NewCollectionWithOptions(one, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p := c.DetachProgram(name)
	if p == nil {
		return nil, fmt.Errorf("program %s: not loaded", name)
	}
	return p, nil
}
