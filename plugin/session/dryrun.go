package session

import (
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/printers"
)

// WriteYAML prints pods as a YAML stream (documents separated by ---) that
// `kubectl apply -f -` accepts, for --dry-run -o yaml.
func WriteYAML(w io.Writer, pods []*corev1.Pod) error {
	p := &printers.YAMLPrinter{}
	for _, pod := range pods {
		if err := p.PrintObj(pod, w); err != nil {
			return err
		}
	}
	return nil
}
