//go:build linux

package attach

import (
	"cmp"
	"fmt"
	"io"
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
// exits 80 ms each). The maps are made first, once, the hash maps (which
// the kernel preallocates: 80 ms here) also side by side; each program is
// then loaded against them, the largest first so the last to finish is
// small. kernelBTF, when not nil, holds the kernel's types already decoded.
func LoadCollection(spec *ebpf.CollectionSpec, kernelBTF *btf.Cache) (*ebpf.Collection, error) {
	if kernelBTF == nil {
		kernelBTF = btf.NewCache()
	}
	workers := min(runtime.GOMAXPROCS(0), maxLoaders)
	maps, err := loadMaps(spec, workers)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, ps := range spec.Programs {
		if ps.Type != ebpf.UnspecifiedProgram {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(spec.Programs[b].Instructions), len(spec.Programs[a].Instructions)), cmp.Compare(a, b))
	})
	opts := ebpf.CollectionOptions{MapReplacements: maps.Maps, Cache: kernelBTF}
	progs, err := each(names, workers, func(name string) (*ebpf.Program, error) { return loadProgram(spec, name, opts) })
	if err != nil {
		maps.Close()
		return nil, err
	}
	maps.Programs = progs
	return maps, nil
}

// loadMaps makes spec's maps, the hash maps side by side, and returns them
// as a Collection without programs (with the data sections' Variables).
func loadMaps(spec *ebpf.CollectionSpec, workers int) (*ebpf.Collection, error) {
	var hashes []string
	for name, ms := range spec.Maps {
		switch ms.Type {
		case ebpf.Hash, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.LRUCPUHash:
			hashes = append(hashes, name)
		}
	}
	slices.Sort(hashes)
	made, err := each(hashes, workers, func(name string) (*ebpf.Map, error) {
		return ebpf.NewMapWithOptions(spec.Maps[name].Copy(), ebpf.MapOptions{})
	})
	if err != nil {
		return nil, err
	}
	// The Collection holds clones of the maps made here.
	defer func() {
		for _, m := range made {
			_ = m.Close()
		}
	}()
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	return ebpf.NewCollectionWithOptions(mapsOnly, ebpf.CollectionOptions{MapReplacements: made})
}

// each runs build for every name on up to workers goroutines. On an error
// it starts no more, closes what was made and returns the error of the
// first name in order that failed, the same on every run.
func each[T io.Closer](names []string, workers int, build func(string) (T, error)) (map[string]T, error) {
	var (
		mu   sync.Mutex
		made = map[string]T{}
		errs = map[string]error{}
		next = make(chan string)
		wg   sync.WaitGroup
	)
	for range min(workers, max(len(names), 1)) {
		wg.Go(func() {
			for name := range next {
				v, err := build(name)
				mu.Lock()
				if err != nil {
					errs[name] = err
				} else {
					made[name] = v
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
	for _, name := range names {
		if err := errs[name]; err != nil {
			for _, v := range made {
				_ = v.Close()
			}
			return nil, err
		}
	}
	return made, nil
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
