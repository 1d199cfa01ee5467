package cmd

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/otlp"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// otlpFlags is --otlp-endpoint: send the run's requests as spans and its
// endpoints as metrics to an OpenTelemetry backend.
type otlpFlags struct {
	Endpoint string
	ep       otlp.Endpoint
	cluster  string
}

func (f *otlpFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Endpoint, "otlp-endpoint", f.Endpoint, "also send every request as a span and the endpoints as metrics to this OpenTelemetry receiver: http://HOST:4318 (OTLP/HTTP) or grpc://HOST:4317 (OTLP/gRPC); only what --data-access keeps leaves")
}

// validate parses --otlp-endpoint, without I/O.
func (f *otlpFlags) validate() error {
	if f.Endpoint == "" {
		return nil
	}
	ep, err := otlp.ParseEndpoint(f.Endpoint)
	f.ep = ep
	return err
}

func (f *otlpFlags) on() bool { return f.Endpoint != "" }

// completeCluster reads the kubeconfig's cluster name (k8s.cluster.name),
// honouring --context and --cluster; "" when it cannot tell.
func (f *otlpFlags) completeCluster(fa cmdutil.Factory, fs *pflag.FlagSet) {
	if !f.on() {
		return
	}
	if c, _ := fs.GetString("cluster"); c != "" {
		f.cluster = c
		return
	}
	raw, err := fa.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return
	}
	name := raw.CurrentContext
	if c, _ := fs.GetString("context"); c != "" {
		name = c
	}
	if kc, ok := raw.Contexts[name]; ok {
		f.cluster = kc.Cluster
	}
}

// wrap tees src's records into an OTLP exporter; finish sends what is
// left (bounded by otlp.CloseTimeout) and says on errOut what was sent
// and dropped. Without --otlp-endpoint both do nothing.
func (f *otlpFlags) wrap(src driver.Source, local bool, targets *target.Set, errOut io.Writer) (driver.Source, func(), error) {
	if !f.on() {
		return src, func() {}, nil
	}
	cfg := otlp.Config{Endpoint: f.ep, Cluster: f.cluster, Pods: otlpPods(targets)}
	if local {
		cfg.Host, _ = os.Hostname()
	}
	exp, err := otlp.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	tee := func(ctx context.Context, emit func(string, []byte)) error {
		return src(ctx, func(node string, line []byte) {
			emit(node, line)
			exp.Line(node, line)
		})
	}
	return tee, func() { fmt.Fprintln(errOut, exp.Close()) }, nil
}

// otlpPods are the targeted pods by UID, for the spans' resources.
func otlpPods(set *target.Set) map[string]otlp.Pod {
	if set == nil {
		return nil
	}
	pods := map[string]otlp.Pod{}
	for _, n := range set.Nodes {
		for _, p := range n.Pods {
			pods[p.UID] = otlp.Pod{UID: p.UID, Namespace: p.Namespace, Name: p.Name, Node: p.Node, Workload: p.Workload, Service: target.GroupBy{}.Service(p)}
		}
	}
	return pods
}
