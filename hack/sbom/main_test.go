package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSBOM on a real Go binary (stdlib only; test/release checks the
// modules of the released plugin and agent): one package per binary with
// its sha256, the standard library, the same bytes twice.
func TestSBOM(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "linux_amd64")
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", bin, "../../plugin/image/testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	write1, write2 := filepath.Join(t.TempDir(), "a.json"), filepath.Join(t.TempDir(), "b.json")
	for _, out := range []string{write1, write2} {
		d, err := build("kubectl-pixie", "v1.2.3", time.Unix(1700000000, 0), []string{bin})
		if err != nil {
			t.Fatal(err)
		}
		if err := write(out, d); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(write1)
	b, _ := os.ReadFile(write2)
	if !bytes.Equal(a, b) {
		t.Error("two runs differ")
	}
	content, _ := os.ReadFile(bin)
	sum := sha256.Sum256(content)
	for _, want := range []string{
		`"spdxVersion": "SPDX-2.3"`,
		`"created": "2023-11-14T22:13:20Z"`,
		`"name": "hello (linux_amd64)"`,
		`"checksumValue": "` + hex.EncodeToString(sum[:]) + `"`,
		`"referenceLocator": "pkg:golang/stdlib@` + strings.TrimPrefix(runtime.Version(), "go") + `"`,
		`"relationshipType": "CONTAINS"`,
	} {
		if !strings.Contains(string(a), want) {
			t.Errorf("SBOM lacks %s:\n%s", want, a)
		}
	}
	if _, err := build("x", "v1", time.Unix(0, 0), []string{write1}); err == nil || !strings.Contains(err.Error(), "Go binary") {
		t.Errorf("a JSON file as a binary: %v", err)
	}
}
