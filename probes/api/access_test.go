package api

import (
	"encoding/json"
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
