package main

func plain(x int) int
func pushed(x int) int
func nop5(x int) int

// targets are the probed functions by name (the symbol is "main."+name);
// atJump probes the stack check's jump instead of the entry.
var targets = []struct {
	name   string
	fn     func(int) int
	what   string
	atJump bool
}{
	{"plain", plain, "a load, single-stepped (as most functions, libssl's SSL_read among them)", false},
	{"pushed", pushed, "push %rbp, emulated", false},
	{"nop5", nop5, "a 5-byte nop, a call on 6.18+ (no trap)", false},
	{"checked", checked, "Go's stack check, probed at its conditional jump (emulated), as the Go TLS probes", true},
}

// checked is Go code (main.checked, ABIInternal): the compiler starts a
// function that calls another with the stack check, CMPQ SP, 16(R14)
// (single-stepped), then JBE to morestack (a conditional jump, emulated).
// The Go TLS probes sit on that jump.
//
//go:noinline
func checked(x int) int { return inc(x) }

//go:noinline
func inc(x int) int { return x + 1 }

// symbol is the probed function's symbol: the assembly bodies are
// main.NAME.abi0 (main.NAME is Go's ABI wrapper that calls them).
func symbol(name string, atJump bool) string {
	if atJump {
		return "main." + name
	}
	return "main." + name + ".abi0"
}
