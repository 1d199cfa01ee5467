package render

import (
	"io"
	"os"

	"github.com/moby/term"
)

// TerminalSize returns w's size in columns and rows when w is a terminal
// that can be repainted (ok false otherwise: a pipe, a file, TERM=dumb):
// only then may output be cut to the width or repainted in place. It is
// the plugin's one terminal test.
func TerminalSize(w io.Writer) (width, height int, ok bool) {
	fd, isTerm := term.GetFdInfo(w)
	if !isTerm || os.Getenv("TERM") == "dumb" {
		return 0, 0, false
	}
	ws, err := term.GetWinsize(fd)
	if err != nil || ws.Width == 0 {
		return 0, 0, true // a terminal of unknown size: no cut
	}
	return int(ws.Width), int(ws.Height), true
}
