package socktrace

import (
	"debug/elf"
	"debug/gosym"
	"os"
	"testing"
)

// TestPclnLookup: the lean pclntab lookup finds crypto/tls's Write and
// Read where debug/gosym does, in this test binary (it links crypto/tls)
// and in the e2e cluster's kubelet when its cache is on this machine.
func TestPclnLookup(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{self, "/var/cache/kubectl-pixie/k8s/v1.34.4/bin/kubelet"} {
		f, err := elf.Open(path)
		if err != nil {
			t.Logf("%s: %v (skipped)", path, err)
			continue
		}
		sec, text := f.Section(".gopclntab"), f.Section(".text")
		if sec == nil || text == nil {
			t.Fatalf("%s: no .gopclntab or .text", path)
		}
		data, err := sec.Data()
		if err != nil {
			t.Fatal(err)
		}
		tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
		if err != nil {
			t.Fatal(err)
		}
		w, r, ok := pclnLookup(sec, text.Addr)
		if !ok || w == nil || r == nil {
			t.Fatalf("%s: pclnLookup found %v %v (format known: %v)", path, w, r, ok)
		}
		for _, c := range []struct {
			name string
			got  *funcRange
		}{{goTLSWrite, w}, {goTLSRead, r}} {
			fn := tab.LookupFunc(c.name)
			if fn == nil || c.got.entry != fn.Entry || c.got.end != fn.End {
				t.Errorf("%s: %s at %+v, debug/gosym says %+v", path, c.name, *c.got, fn)
			}
		}
		f.Close()
	}
}
