// Package probetest gates tier-2 tests (root, BPF, BTF). A missing need
// skips the test loudly, or fails it when PIXIE_REQUIRE_PRIVILEGED=1 (CI),
// so a machine that should run these tests cannot silently skip them.
package probetest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the variable that turns skips into failures.
const RequireEnv = "PIXIE_REQUIRE_PRIVILEGED"

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("privileged test cannot run ("+RequireEnv+"=1): "+format, args...)
	}
	t.Skipf("SKIP (privileged test): "+format, args...)
}

// RequireRoot skips (or fails) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root; run `sudo go test` or `go test -exec sudo`")
	}
}

// RequireBTF skips (or fails) unless the kernel exposes BTF.
func RequireBTF(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		skipOrFail(t, "needs kernel BTF at /sys/kernel/btf/vmlinux: %v", err)
	}
}

// RequirePrivileged is RequireRoot plus RequireBTF.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireBTF(t)
}

// RequireCommand skips (or fails) unless name is on PATH; it returns its path.
// Install what is missing with `make deps`.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "needs %s on PATH (make deps installs it)", name)
	}
	return p
}
