//go:build !linux

package main

func runAgent() bool { return false }
