package driver

import (
	"bytes"
	"context"
	"testing"
)

// Work a source hands to After runs once the final frame and Finish are
// written, not before; outside Run it runs at once.
func TestAfterRunsAfterTheFinalFrame(t *testing.T) {
	var out bytes.Buffer
	var atAfter string
	err := Run(context.Background(), func(ctx context.Context, emit func(string, []byte)) error {
		emit("n1", []byte(`{"table":"x"}`))
		After(ctx, func() { atAfter = out.String() })
		if atAfter != "" {
			t.Error("After ran before the source returned")
		}
		return nil
	}, viewFunc{}, Options{Out: &out, ErrOut: &bytes.Buffer{}, NoStream: true})
	if err != nil {
		t.Fatal(err)
	}
	if atAfter != "frame\n" {
		t.Errorf("output when the After work ran: %q, want the final frame", atAfter)
	}
	ran := false
	After(context.Background(), func() { ran = true })
	if !ran {
		t.Error("After outside Run did not run at once")
	}
}
