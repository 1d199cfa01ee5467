package completion

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/rest/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/kubectl/pkg/scheme"
)

// fakeCluster answers list requests for pods and deployments in namespace
// "test" and for nodes; anything else is a 404. It records the paths asked.
func fakeCluster(t *testing.T) (*cmdtesting.TestFactory, *[]string) {
	t.Helper()
	tf := cmdtesting.NewTestFactory().WithNamespace("test")
	t.Cleanup(tf.Cleanup)
	codec := scheme.Codecs.LegacyCodec(scheme.Scheme.PrioritizedVersionsAllGroups()...)
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "test"} }
	objects := map[string]kruntime.Object{
		"/namespaces/test/pods": &corev1.PodList{Items: []corev1.Pod{
			{ObjectMeta: meta("web-1")}, {ObjectMeta: meta("web-2")}, {ObjectMeta: meta("db-0")},
		}},
		"/namespaces/test/deployments": &appsv1.DeploymentList{Items: []appsv1.Deployment{
			{ObjectMeta: meta("web")}, {ObjectMeta: meta("worker")},
		}},
		"/nodes": &corev1.NodeList{Items: []corev1.Node{
			{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "node-b"}},
		}},
	}
	var asked []string
	tf.UnstructuredClient = &fake.RESTClient{
		NegotiatedSerializer: resource.UnstructuredPlusDefaultContentConfig().NegotiatedSerializer,
		Client: fake.CreateHTTPClient(func(req *http.Request) (*http.Response, error) {
			asked = append(asked, req.URL.Path)
			for suffix, obj := range objects {
				if strings.HasSuffix(req.URL.Path, suffix) && req.Method == http.MethodGet {
					return &http.Response{StatusCode: http.StatusOK, Header: cmdtesting.DefaultHeader(), Body: cmdtesting.ObjBody(codec, obj)}, nil
				}
			}
			return &http.Response{StatusCode: http.StatusNotFound, Header: cmdtesting.DefaultHeader(), Body: cmdtesting.StringBody("")}, nil
		}),
	}
	return tf, &asked
}

func TestCompleteTargetsFromCluster(t *testing.T) {
	noFile := cobra.ShellCompDirectiveNoFileComp
	for _, tc := range []struct {
		name       string
		args       []string
		toComplete string
		want       []string
		directive  cobra.ShellCompDirective
	}{
		{"pods and types", nil, "", append([]string{"web-1", "web-2", "db-0"}, withSlash(TargetTypes)...), noFile},
		{"pod prefix", nil, "web", []string{"web-1", "web-2"}, noFile},
		{"type prefix, no pod", nil, "dep", []string{"deployments/"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{"node prefix", nil, "no", []string{"nodes/"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{"already given", []string{"web-1"}, "web", []string{"web-2"}, noFile},
		{"deployment names", nil, "deployments/w", []string{"deployments/web", "deployments/worker"}, noFile},
		{"node names", nil, "nodes/", []string{"nodes/node-a", "nodes/node-b"}, noFile},
		{"pod by type", []string{"pods/web-1"}, "pods/", []string{"pods/web-2", "pods/db-0"}, noFile},
		{"nothing matches", nil, "zz", nil, noFile | cobra.ShellCompDirectiveNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf, _ := fakeCluster(t)
			got, directive := CompleteTargets(tf)(&cobra.Command{}, tc.args, tc.toComplete)
			if diff := cmp.Diff(sorted(tc.want), sorted(got)); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
			if directive != tc.directive {
				t.Errorf("directive = %v, want %v", directive, tc.directive)
			}
		})
	}
}

func TestCompleteTargetsAsksTheNamespace(t *testing.T) {
	tf, asked := fakeCluster(t)
	CompleteTargets(tf)(&cobra.Command{}, nil, "deployments/")
	if len(*asked) != 1 || !strings.HasSuffix((*asked)[0], "/namespaces/test/deployments") {
		t.Fatalf("asked %v, want one list of deployments in namespace test", *asked)
	}
}

func TestCompleteNodes(t *testing.T) {
	tf, _ := fakeCluster(t)
	got, _ := CompleteNodes(tf)(&cobra.Command{}, nil, "node-b")
	if diff := cmp.Diff([]string{"node-b"}, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestRegisterTargetFlags(t *testing.T) {
	tf, _ := fakeCluster(t)
	root := &cobra.Command{Use: "pixie"}
	sub := &cobra.Command{Use: "trace", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("node", "", "")
	root.AddCommand(sub)
	if err := RegisterTargetFlags(sub, tf); err != nil {
		t.Fatal(err)
	}
	out := runComplete(t, root, "trace", "--node", "")
	if !strings.Contains(out, "node-a\n") || !strings.Contains(out, "node-b\n") {
		t.Errorf("--node completion:\n%s", out)
	}
}

func runComplete(t *testing.T, root *cobra.Command, args ...string) string {
	t.Helper()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&strings.Builder{})
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestInstallHelper(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	path, err := InstallHelper(dir)
	if err != nil {
		t.Fatal(err)
	}
	name, want := Helper(runtime.GOOS)
	if filepath.Base(path) != name {
		t.Errorf("installed %s, want %s", path, name)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("installed helper differs from the embedded one")
	}
	if st, _ := os.Stat(path); runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0 {
		t.Errorf("helper mode %v is not executable", st.Mode())
	}
	// Reinstalling replaces it and leaves no temp files.
	if _, err := InstallHelper(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries after reinstall, want 1", len(entries))
	}
}

// The release archives ship these same files (hack/dist copies them).
func TestHelperScriptsCallComplete(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		name, content := Helper(goos)
		if !strings.Contains(string(content), "__complete") {
			t.Errorf("%s does not call __complete", name)
		}
	}
	if _, sh := Helper("linux"); !strings.HasPrefix(string(sh), "#!/bin/sh\n") {
		t.Error("sh helper lacks its #!/bin/sh line")
	}
}

func TestPluginDir(t *testing.T) {
	// A symlinked plugin (krew: ~/.krew/bin -> ~/.krew/store) stays in the
	// directory it was run from.
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{store, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(store, "kubectl-pixie"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, "kubectl-pixie"), filepath.Join(bin, "kubectl-pixie")); err != nil {
		t.Skipf("no symlinks: %v", err)
	}
	got, err := PluginDir(filepath.Join(bin, "kubectl-pixie"))
	if err != nil || got != bin {
		t.Errorf("PluginDir(full path) = %q, %v; want %q", got, err, bin)
	}
	t.Setenv("PATH", bin)
	got, err = PluginDir("kubectl-pixie")
	if err != nil || got != bin {
		t.Errorf("PluginDir(bare name) = %q, %v; want %q", got, err, bin)
	}
	if !OnPath(bin+string(filepath.Separator), bin) || OnPath(store, bin) {
		t.Error("OnPath is wrong")
	}
}

func withSlash(types []string) []string {
	var out []string
	for _, t := range types {
		out = append(out, t+"/")
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	if len(s) == 0 {
		return nil
	}
	return s
}
