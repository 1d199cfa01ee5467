package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

func TestMain(m *testing.M) {
	if os.Getenv("PIXIE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// An error that quotes a server's answer reaches the terminal through the
// one sanitizer, whatever the command path that returned it.
func TestFatalErrorIsSanitized(t *testing.T) {
	discovery := map[string]string{
		"/api":          `{"kind":"APIVersions","versions":["v1"]}`,
		"/apis":         `{"kind":"APIGroupList","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}`,
		"/apis/apps/v1": `{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["get","list"]}]}`,
		"/api/v1":       `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"]}]}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if d, ok := discovery[r.URL.Path]; ok {
			_, _ = w.Write([]byte(d))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":` +
			`"denied \u001b]52;c;SGk=\u0007\u001b[2J\r\nerror: forged"}`))
	}))
	defer api.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self, "trace", "deployments/web", "--server", api.URL, "--kubeconfig", os.DevNull, "--request-timeout", "5s")
	cmd.Env = append(os.Environ(), "PIXIE_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("trace succeeded against a server that denies everything:\n%s", out)
	}
	rendertest.CheckSafe(t, "fatal error", string(out))
	if !strings.Contains(string(out), "denied ^[]52;c;SGk=^G^[[2J") {
		t.Errorf("the server's message is not quoted escaped:\n%q", out)
	}
}
