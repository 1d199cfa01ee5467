package protocols

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

func TestRegistry(t *testing.T) {
	if len(All()) == 0 || All()[0].Name() != "http" {
		t.Fatalf("All() = %v", All())
	}
	ps, unknown := ByName("http", "gopher")
	if len(ps) != 1 || ps[0].Name() != "http" || len(unknown) != 1 || unknown[0] != "gopher" {
		t.Errorf("ByName: %v %v", ps, unknown)
	}
}

func TestRegistryRedis(t *testing.T) {
	ps, unknown := ByName("redis", "dns")
	if len(ps) != 2 || ps[0].Name() != "redis" || ps[1].Name() != "dns" || len(unknown) != 0 {
		t.Errorf("ByName(redis): %v %v", ps, unknown)
	}
}

// TestSummaries: kernel summaries go to the registry's HTTP/1 parser (with
// its h2c upgrade), which takes them.
func TestSummaries(t *testing.T) {
	p := Summaries()
	if p.Name() != "http" || p != All()[0] {
		t.Fatalf("Summaries() = %v", p)
	}
	if _, ok := p.NewParser(&conn.Env{Stats: &conn.Stats{}}).(conn.Summarizer); !ok {
		t.Fatal("the HTTP/1 parser takes no summaries")
	}
}
