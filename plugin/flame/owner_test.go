package flame

import (
	"bytes"
	"strings"
	"testing"
)

// TestOwnerRoots: in cluster mode a stack starts with its owner's roots
// ("namespace/workload", then pod and node when asked) and the process
// name, in the folded stacks, the flame graphs and speedscope; pprof
// samples carry namespace, workload, pod and node labels. Replicas of one
// workload merge under one root.
func TestOwnerRoots(t *testing.T) {
	a := &Owner{Namespace: "shop", Workload: "api", Pod: "api-1", Roots: []string{"shop/api"}}
	b := &Owner{Namespace: "shop", Workload: "api", Pod: "api-2", Roots: []string{"shop/api"}}
	p := New(99)
	p.AddRecordOf(rec("n1", 10, "api", "main.main;hot", 30), a)
	p.AddRecordOf(rec("n2", 11, "api", "main.main;hot", 12), b)
	var folded bytes.Buffer
	if err := p.WriteFolded(&folded); err != nil {
		t.Fatal(err)
	}
	if got := folded.String(); got != "shop/api;api;main.main;hot 42\n" {
		t.Errorf("folded = %q, want both replicas under shop/api;api", got)
	}
	root := p.tree()
	if len(root.order) != 1 || root.order[0].name != "shop/api" || root.order[0].total != 42 ||
		root.order[0].order[0].name != "api" {
		t.Errorf("tree's first levels are not shop/api then api: %+v", root.order)
	}
	var svg bytes.Buffer
	if err := p.WriteSVG(&svg, "t"); err != nil || !strings.Contains(svg.String(), "shop/api") {
		t.Errorf("svg lacks the workload root (err %v)", err)
	}
	var ss bytes.Buffer
	if err := p.WriteSpeedscope(&ss, "t"); err != nil || !strings.Contains(ss.String(), "api (pid 10) in shop/api-1 on n1") {
		t.Errorf("speedscope lacks the pod's process name (err %v):\n%s", err, ss.String())
	}
	pods := map[string]int64{}
	for _, s := range p.Pprof().Sample {
		l := s.Label
		if l["namespace"][0] != "shop" || l["workload"][0] != "api" || len(l["node"]) != 1 {
			t.Errorf("pprof labels %v", l)
		}
		pods[l["pod"][0]+"@"+l["node"][0]] += s.Value[0]
	}
	if pods["api-1@n1"] != 30 || pods["api-2@n2"] != 12 {
		t.Errorf("pprof samples per pod %v, want api-1@n1 30 and api-2@n2 12", pods)
	}

	byNode := New(99) // --group-by pod,node: more levels
	byNode.AddRecordOf(rec("n1", 10, "api", "main.main;hot", 3), &Owner{Namespace: "shop", Workload: "api", Pod: "api-1", Roots: []string{"shop/api", "api-1", "n1"}})
	folded.Reset()
	_ = byNode.WriteFolded(&folded)
	if got := folded.String(); got != "shop/api;api-1;n1;api;main.main;hot 3\n" {
		t.Errorf("folded by pod and node = %q", got)
	}
}
