package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// LiveOptions choose how frames reach the writer.
type LiveOptions struct {
	// TTY repaints each frame in place (only when the writer is a
	// terminal: see TerminalSize). Otherwise every frame is a plain
	// snapshot under a timestamp line, with no escape sequence.
	TTY bool
	// Height is the terminal's rows; on a TTY an intermediate frame is cut
	// to Height-1 lines, since lines that scrolled away cannot be repainted.
	// 0 = no cut.
	Height int
	// Width is the terminal's columns; on a TTY every line is cut to it, as
	// a wrapped line would break the repaint. 0 = no cut.
	Width int
	// NoStream prints only the final frame (like docker stats --no-stream).
	NoStream bool
	// Now stamps snapshots; nil = time.Now.
	Now func() time.Time
}

// ANSI sequences used on a TTY.
const (
	eraseLine  = "\x1b[K" // to the end of the line
	eraseBelow = "\x1b[J" // from the cursor to the end of the screen
)

// Live writes a refreshed view. On a TTY each frame is built in a buffer
// and written with one Write: the cursor goes back up over the previous
// frame, every line ends with erase-to-end-of-line and the frame with
// erase-below, so there is no flicker (docker stats does the same). Going up
// relative to the last frame, rather than clearing the screen, keeps what
// was printed before the first frame (stderr progress) and leaves the final
// frame in the scrollback.
//
// Anything else written to the same terminal between frames shifts the
// frame down; print warnings before the first frame or after Final.
type Live struct {
	w     io.Writer
	o     LiveOptions
	lines int    // lines of the frame on screen
	last  []byte // that frame
	done  bool
}

// NewLive returns a Live writing to w.
func NewLive(w io.Writer, o LiveOptions) *Live {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Live{w: w, o: o}
}

// Update shows an intermediate frame (nothing with NoStream).
func (l *Live) Update(frame []byte) error {
	if l.done || l.o.NoStream {
		return nil
	}
	if l.o.TTY && l.o.Height > 1 {
		frame = clip(frame, l.o.Height-1)
	}
	return l.write(frame, false)
}

// Final shows the last frame, whole, and ends the view: it stays on screen.
func (l *Live) Final(frame []byte) error {
	if l.done {
		return nil
	}
	l.done = true
	if l.o.NoStream {
		_, err := l.w.Write(frame)
		return err
	}
	return l.write(frame, true)
}

// Above runs say, which writes to the same terminal (stderr), so that its
// output ends up above the frame: on a TTY the frame on screen is erased
// first and drawn again after, the repaint going on from there.
func (l *Live) Above(say func()) error {
	if !l.o.TTY || l.done || l.lines == 0 {
		say()
		return nil
	}
	if _, err := fmt.Fprintf(l.w, "\r\x1b[%dA%s", l.lines, eraseBelow); err != nil {
		return err
	}
	l.lines = 0
	say()
	return l.write(l.last, false)
}

func (l *Live) write(frame []byte, final bool) error {
	var b bytes.Buffer
	if !l.o.TTY {
		stamp := l.o.Now().UTC().Format(time.RFC3339)
		if final {
			stamp += " final"
		}
		fmt.Fprintf(&b, "--- %s ---\n", stamp)
		b.Write(frame)
		if len(frame) > 0 && frame[len(frame)-1] != '\n' {
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
		_, err := l.w.Write(b.Bytes())
		return err
	}
	if l.lines > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", l.lines)
	}
	text := strings.TrimSuffix(string(frame), "\n")
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(TruncateLine(line, l.o.Width))
		b.WriteString(eraseLine)
		b.WriteByte('\n')
		n++
	}
	b.WriteString(eraseBelow)
	l.lines, l.last = n, frame
	_, err := l.w.Write(b.Bytes())
	return err
}

// clip keeps the first n lines of frame, the last of them saying how many
// were left out.
func clip(frame []byte, n int) []byte {
	lines := strings.Split(strings.TrimSuffix(string(frame), "\n"), "\n")
	if len(lines) <= n {
		return frame
	}
	kept := append(lines[:n-1:n-1], fmt.Sprintf("… %d more lines (the final frame shows all)", len(lines)-n+1))
	return []byte(strings.Join(kept, "\n") + "\n")
}
