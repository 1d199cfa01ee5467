package protocols

import "testing"

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
