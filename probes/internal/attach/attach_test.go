//go:build linux

package attach

import (
	"reflect"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	got, err := ParseCPUList("0-2,5,7-8")
	if err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 5, 7, 8}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"x", "", "1-y"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Fatalf("bad list %q accepted", bad)
		}
	}
}
