package cmd

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestTraceDataAccess: --data-access, its alias --full-data and
// --body-limit are checked before any I/O and reach the agent's config.
func TestTraceDataAccess(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	for name, tc := range map[string]struct {
		mod     func(o *TraceOptions)
		wantErr string
		want    api.DataAccess
	}{
		"default":          {func(o *TraceOptions) {}, "", api.DataAccessRestricted},
		"full":             {func(o *TraceOptions) { o.DataAccess = "full" }, "", api.DataAccessFull},
		"none":             {func(o *TraceOptions) { o.DataAccess = "none" }, "", api.DataAccessNone},
		"alias":            {func(o *TraceOptions) { o.FullData = true }, "", api.DataAccessFull},
		"alias and full":   {func(o *TraceOptions) { o.FullData = true; o.DataAccess = "full" }, "", api.DataAccessFull},
		"alias and none":   {func(o *TraceOptions) { o.FullData = true; o.DataAccess = "none" }, "pass only one of them", ""},
		"unknown":          {func(o *TraceOptions) { o.DataAccess = "all" }, `--data-access "all" is unknown: use restricted, full or none`, ""},
		"no bodies":        {func(o *TraceOptions) { o.BodyLimit = 0 }, "", api.DataAccessRestricted},
		"capture size":     {func(o *TraceOptions) { o.BodyLimit = 4096 }, "", api.DataAccessRestricted},
		"over capture":     {func(o *TraceOptions) { o.BodyLimit = 4097 }, "--body-limit 4097 is out of range", ""},
		"negative":         {func(o *TraceOptions) { o.BodyLimit = -1 }, "--body-limit -1 is out of range", ""},
		"raised capture":   {func(o *TraceOptions) { o.MaxPayload = 16384; o.BodyLimit = 16384 }, "", api.DataAccessRestricted},
		"over raised size": {func(o *TraceOptions) { o.MaxPayload = 1024; o.BodyLimit = 2048 }, "--body-limit 2048 is out of range", ""},
	} {
		t.Run(name, func(t *testing.T) {
			o := NewTraceOptions(streams)
			o.Local, o.PIDs = true, []int{42}
			tc.mod(o)
			err := o.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg := o.config()
			got, err := cfg.Access()
			if err != nil || got != tc.want || cfg.DataAccess != tc.want || cfg.BodyLimit != o.BodyLimit {
				t.Fatalf("config %+v: access %q (%v), want %q", cfg, got, err, tc.want)
			}
		})
	}
}
