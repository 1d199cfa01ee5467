package registrytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CosignPassword protects the test keys (cosign reads COSIGN_PASSWORD).
const CosignPassword = "pixie-test"

// Cosign is the real cosign program, pinned by the Makefile (make cosign
// builds it once into the tool cache). Tests sign with it and check that
// our verifier agrees with what it wrote.
type Cosign struct {
	Path string
	t    testing.TB
}

// FindCosign returns the pinned cosign, building it if it is missing
// (about 3.5 minutes once; `make test` builds it before the tests). It
// skips under -short.
func FindCosign(t testing.TB) *Cosign {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: the cosign tests run the real cosign (make test runs them)")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "../../..")
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "cosign")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make cosign: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return &Cosign{Path: lines[len(lines)-1], t: t}
}

// Run runs cosign with args and the test password, failing the test if it
// fails; it returns the combined output.
func (c *Cosign) Run(args ...string) string {
	c.t.Helper()
	out, err := c.Try(args...)
	if err != nil {
		c.t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs cosign with args and returns its combined output and error.
func (c *Cosign) Try(args ...string) (string, error) {
	cmd := exec.Command(c.Path, args...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+CosignPassword)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// KeyPair makes a fresh key pair in a temporary directory and returns the
// paths of cosign.key and cosign.pub.
func (c *Cosign) KeyPair() (private, public string) {
	c.t.Helper()
	dir := c.t.TempDir()
	cmd := exec.Command(c.Path, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+CosignPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// Sign signs ref (REPO@DIGEST) with key, offline (no transparency log).
func (c *Cosign) Sign(key, ref string) {
	c.t.Helper()
	c.Run("sign", "--yes", "--key", key, "--tlog-upload=false", ref)
}
