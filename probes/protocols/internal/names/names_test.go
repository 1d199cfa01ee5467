package names

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"orders.v1":         "orders.v1",
		"a\x00b\x1bc\x7f":   "a?b?c?",
		"caf\xc3\xa9":       "café",
		"bad\xff\xfe":       "bad??",
		"cut\xe2\x82":       "cut??", // one ? per invalid byte
		`quote"back\slash`:  `quote"back\slash`,
		"":                  "",
		"\u2028line\ttab\r": "\u2028line?tab?",
	} {
		if got := Printable([]byte(in)); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"}, // é is two bytes: not split
		{"aé", 3, "aé"},
		{"€", 2, ""},
		{"", 0, ""},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
