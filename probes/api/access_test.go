package api

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestAccess(t *testing.T) {
	for _, c := range []struct {
		json string
		want DataAccess
		err  bool
	}{
		{`{}`, DataAccessRestricted, false},
		{`{"data_access":"none"}`, DataAccessNone, false},
		{`{"data_access":"full"}`, DataAccessFull, false},
		{`{"full_data":true}`, DataAccessFull, false}, // an older plugin
		{`{"full_data":true,"data_access":"full"}`, DataAccessFull, false},
		{`{"full_data":true,"data_access":"restricted"}`, "", true},
		{`{"data_access":"FULL"}`, "", true},
	} {
		var cfg TraceConfig
		if err := json.Unmarshal([]byte(c.json), &cfg); err != nil {
			t.Fatal(err)
		}
		got, err := cfg.Access()
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: %q, %v", c.json, got, err)
		}
	}
}

func TestCheckBodyLimit(t *testing.T) {
	for _, c := range []struct {
		limit, payload int
		ok             bool
	}{{0, 0, true}, {512, 0, true}, {4096, 0, true}, {4097, 0, false}, {-1, 0, false}, {8192, 8192, true}, {8193, 8192, false}} {
		if err := CheckBodyLimit(c.limit, c.payload); (err == nil) != c.ok {
			t.Errorf("CheckBodyLimit(%d, %d) = %v", c.limit, c.payload, err)
		}
	}
	for n, want := range map[int64]string{37: "<redacted 37 bytes>", 0: "<redacted 0 bytes>", -1: "<redacted -1 bytes>",
		1 << 62: "<redacted 4611686018427387904 bytes>"} {
		if got := Redacted(n); got != want {
			t.Errorf("marker %q, want %q", got, want)
		}
	}
}

// BenchmarkRedacted: the parsers call it for both bodies of every request.
func BenchmarkRedacted(b *testing.B) {
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		_ = Redacted(i & 0xfff)
	}
}

// Redacted's markers made once for small sizes are the ones it builds.
func TestRedactedSizes(t *testing.T) {
	for _, n := range []int64{0, 1, 17, 255, 256, 4096, -1} {
		if got, want := Redacted(n), "<redacted "+strconv.FormatInt(n, 10)+" bytes>"; got != want {
			t.Errorf("Redacted(%d) = %q, want %q", n, got, want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = Redacted(200) }); a != 0 {
		t.Errorf("Redacted(200) allocates %v times, want 0", a)
	}
}
