//go:build linux

package agent

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// podEnv makes the agent believe it runs in a probe pod with a fresh UID.
func podEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{EnvPodUID: "test-" + strconv.FormatUint(rand.Uint64(), 36)}
	for k, v := range extra {
		env[k] = v
	}
	old := getenvOS
	getenvOS = envOf(env)
	t.Cleanup(func() { getenvOS = old })
	return env
}

// A second agent in the same pod (kubectl exec) is refused before it reads
// its configuration; once the first is gone the name is free again.
func TestSecondAgentInPodRefused(t *testing.T) {
	env := podEnv(t, nil)
	release, err := enterPod(envOf(env), func(int) { t.Error("exit called") }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main([]string{"trace", "--config", `{"all":true,"full_data":true}`}, &stdout, &stderr)
	if code != 2 {
		t.Errorf("second agent exit code = %d, want 2 (stdout %q, stderr %q)", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "an agent already runs in this probe pod") {
		t.Errorf("no refusal record: %q", stdout.String())
	}
	if strings.Contains(stdout.String(), "http_stats") || strings.Contains(stdout.String(), "probe_stats") {
		t.Errorf("the second agent traced: %q", stdout.String())
	}
	release()
	again, err := enterPod(envOf(env), func(int) {}, io.Discard)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	again()
}

// Outside a probe pod (--local) any number of agents run.
func TestNoLockOutsidePod(t *testing.T) {
	env := map[string]string{}
	r1, err1 := enterPod(envOf(env), nil, io.Discard)
	r2, err2 := enterPod(envOf(env), nil, io.Discard)
	if err1 != nil || err2 != nil {
		t.Fatalf("errors outside a pod: %v, %v", err1, err2)
	}
	r1()
	r2()
}

// With the kubelet gone nobody enforces activeDeadlineSeconds: the agent
// exits by itself.
func TestAgentEndsAtItsDeadline(t *testing.T) {
	env := podEnv(t, map[string]string{EnvDeadline: "1"})
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	start := time.Now()
	release, err := enterPod(envOf(env), func(code int) { exited <- code }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	select {
	case code := <-exited:
		if code != exitDeadline {
			t.Errorf("exit code %d, want %d", code, exitDeadline)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("exited after %s, before its 1s deadline", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not end at its deadline")
	}
	if !strings.Contains(stderr.String(), "deadline reached") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestBadDeadlineRefused(t *testing.T) {
	env := podEnv(t, map[string]string{EnvDeadline: "soon"})
	if _, err := enterPod(envOf(env), nil, io.Discard); err == nil || !strings.Contains(err.Error(), EnvDeadline) {
		t.Fatalf("err = %v", err)
	}
}

// In a probe pod, full data access needs the pod's annotation to say so.
func TestFullDataNeedsPodAnnotation(t *testing.T) {
	for _, cfg := range []string{`{"all":true,"full_data":true}`, `{"all":true,"data_access":"full"}`} {
		podEnv(t, map[string]string{EnvDataAccess: "restricted"})
		var stdout bytes.Buffer
		code := Main([]string{"trace", "--config", cfg}, &stdout, io.Discard)
		if code != 2 || !strings.Contains(stdout.String(), `data access \"full\" refused`) ||
			!strings.Contains(stdout.String(), "pixie.dev/allow-full-data-access=true") {
			t.Errorf("%s: code %d, stdout %q", cfg, code, stdout.String())
		}
	}
	if err := podAllows(envOf(map[string]string{EnvPodUID: "u", EnvDataAccess: "full"}), nil); err != nil {
		t.Errorf("non-trace config refused: %v", err)
	}
}
