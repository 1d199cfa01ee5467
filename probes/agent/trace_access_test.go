//go:build linux

package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// A configuration the agent cannot honour (an unknown data access, full
// data contradicting it, a body limit past the capture size) is refused
// with a remedy before anything is loaded or traced.
func TestTraceRefusesBadDataConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  api.TraceConfig
		want string
	}{
		{api.TraceConfig{DataAccess: "everything"}, `unknown data access "everything"`},
		{api.TraceConfig{DataAccess: api.DataAccessNone, FullData: true}, "full data contradicts"},
		{api.TraceConfig{BodyLimit: 4097}, "body limit 4097 is out of range"},
		{api.TraceConfig{BodyLimit: 20000, MaxPayload: 16384}, "body limit 20000 is out of range"},
		{api.TraceConfig{BodyLimit: -1}, "body limit -1 is out of range"},
	} {
		c.cfg.PIDs = []uint32{1}
		var out bytes.Buffer
		err := Trace(context.Background(), c.cfg, NewEmitter(&out))
		var ue *UserError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, c.want) || ue.Remedy == "" {
			t.Errorf("%+v: %v, want a user error with %q", c.cfg, err, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%+v: wrote %q before refusing", c.cfg, out.String())
		}
	}
}
