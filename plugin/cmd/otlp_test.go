package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// A bad --otlp-endpoint is refused with its remedy before the API server
// is contacted; a good one asks the agent for every request.
func TestOTLPEndpointFlag(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range []struct{ value, want string }{
		{"localhost:4318", `--otlp-endpoint "localhost:4318" has no scheme: use http://HOST:4318 (OTLP/HTTP) or grpc://HOST:4317 (OTLP/gRPC)`},
		{"udp://h:4317", `has the unknown scheme "udp"`},
		{"grpc://h:4317/v1/traces", "has a path, which OTLP/gRPC does not take"},
	} {
		_, _, err := runRoot(t, "trace", "deploy/web", "--kubeconfig", kc, "--otlp-endpoint", c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("--otlp-endpoint %q: %v, want %q before any I/O", c.value, err, c.want)
		}
	}

	o := NewTraceOptions(testStreams())
	cmd := &cobra.Command{}
	o.AddFlags(cmd)
	if o.config().EmitEvents {
		t.Fatal("a table run asks for every request without --otlp-endpoint")
	}
	if err := cmd.ParseFlags([]string{"--local", "--pid", "42", "--otlp-endpoint", "grpc://collector"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !o.config().EmitEvents {
		t.Error("--otlp-endpoint does not ask the agent for every request")
	}
	if o.otlp.ep.Host != "collector:4317" || !o.otlp.ep.GRPC {
		t.Errorf("endpoint %+v", o.otlp.ep)
	}
}

func TestOTLPPods(t *testing.T) {
	if otlpPods(nil) != nil {
		t.Error("--local has pods")
	}
	set := &target.Set{Nodes: []target.Node{{Name: "n1", Pods: []target.Pod{
		{Namespace: "shop", Name: "api-1", UID: "u1", Node: "n1", Workload: "deployment/api"},
		{Namespace: "shop", Name: "bare", UID: "u2", Node: "n1"},
	}}}}
	pods := otlpPods(set)
	if pods["u1"].Service != "shop/api" || pods["u2"].Service != "shop/bare" || pods["u1"].Workload != "deployment/api" {
		t.Errorf("pods %+v", pods)
	}
}
