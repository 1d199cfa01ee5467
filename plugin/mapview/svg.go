package mapview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// svgTimeout bounds Graphviz's layout of one map.
const svgTimeout = 30 * time.Second

// WriteSVG lays the map out with Graphviz's dot (found in PATH: Debian's
// graphviz package, or Homebrew's) and writes the SVG.
func WriteSVG(ctx context.Context, w io.Writer, edges []Edge, window time.Duration) error {
	bin, err := exec.LookPath("dot")
	if err != nil {
		return errors.New("-o svg needs Graphviz's dot in PATH: install graphviz (apt install graphviz, brew install graphviz), or write -o dot and render it elsewhere")
	}
	var in, out, errOut bytes.Buffer
	if err := WriteDOT(&in, edges, window); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, svgTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-Tsvg")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("graphviz dot could not lay out the map (%s); -o dot writes the graph for another tool: %w", bytes.TrimSpace(errOut.Bytes()), err)
	}
	_, err = w.Write(out.Bytes())
	return err
}
