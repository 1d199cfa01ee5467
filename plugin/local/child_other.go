//go:build !linux

package local

import "os/exec"

// childAttrs: --local runs only on Linux (see Check).
func childAttrs(*exec.Cmd) func() { return func() {} }
