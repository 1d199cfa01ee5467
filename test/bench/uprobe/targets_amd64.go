package main

func plain(x int) int
func pushed(x int) int
func nop5(x int) int

// targets are the probed functions by name (the symbol is "main."+name).
var targets = []struct {
	name string
	fn   func(int) int
	what string
}{
	{"plain", plain, "a load, single-stepped (as most functions, libssl's SSL_read among them)"},
	{"pushed", pushed, "push %rbp, emulated"},
	{"nop5", nop5, "a 5-byte nop, a call on 6.18+ (no trap)"},
}
