package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/webhook"
)

// gateFlags are --fail-if rules, parsed before any I/O and checked on the
// final result (a rule that fires makes the command exit with status 3),
// and --webhook, which posts that result and the rules that fired.
type gateFlags struct {
	FailIf        []string
	Webhook       string
	WebhookFormat string
	rules         []*gate.Rule
	schema        gate.Schema
}

func (g *gateFlags) addFlags(fs *pflag.FlagSet, example string) {
	fs.StringArrayVar(&g.FailIf, "fail-if", nil, fmt.Sprintf("exit with status 3 when this rule holds for a row of the final result, e.g. %s (repeatable: any rule; && inside one: all; see README \"Gates\")", example))
	fs.StringVar(&g.Webhook, "webhook", "", "at the end, POST the final summary rows and the --fail-if rules that fired to this http(s) URL (sends data out of the cluster: only summary rows, never request values)")
	fs.StringVar(&g.WebhookFormat, "webhook-format", webhook.FormatJSON, "json, or slack (an incoming-webhook message)")
}

// validate parses every rule against the command's columns and checks the
// webhook flags; no I/O.
func (g *gateFlags) validate(schema gate.Schema) error {
	g.schema = schema
	g.rules = g.rules[:0]
	for _, s := range g.FailIf {
		r, err := gate.Parse(s, schema)
		if err != nil {
			return fmt.Errorf("--fail-if %s: %w", strconv.Quote(s), err)
		}
		g.rules = append(g.rules, r)
	}
	if g.WebhookFormat != "" && g.WebhookFormat != webhook.FormatJSON && g.WebhookFormat != webhook.FormatSlack {
		return fmt.Errorf("--webhook-format %q is unknown: use json or slack", g.WebhookFormat)
	}
	if g.Webhook != "" {
		if err := webhook.CheckURL(g.Webhook); err != nil {
			return fmt.Errorf("--webhook: %w: use a URL such as https://hooks.slack.com/services/...", err)
		}
	}
	return nil
}

// used tells whether the command needs its final result.
func (g *gateFlags) used() bool { return len(g.FailIf) > 0 || g.Webhook != "" }

// check runs the rules on the final result when the run itself
// succeeded, says on errOut which fired (with the numbers), posts the
// webhook, and returns a *gate.Fired for the rules that fired. A webhook
// that fails is an error unless a rule fired (status 3 says more).
func (g *gateFlags) check(ctx context.Context, command string, errOut io.Writer, result func() gate.Source, runErr error) error {
	if runErr != nil || !g.used() {
		return runErr
	}
	src := result()
	var fired []webhook.Fired
	for _, r := range g.rules {
		ok, why := r.Check(src)
		if !ok {
			continue
		}
		fired = append(fired, webhook.Fired{Rule: r.Text, Why: why})
		fmt.Fprintf(errOut, "--fail-if %s fired:\n", render.Sanitize(strconv.Quote(r.Text)))
		for _, w := range why {
			fmt.Fprintf(errOut, "  %s\n", render.Sanitize(w))
		}
	}
	var err error
	if len(fired) > 0 {
		f := &gate.Fired{}
		for _, x := range fired {
			f.Rules = append(f.Rules, x.Rule)
		}
		err = f
	}
	if g.Webhook == "" {
		return err
	}
	if werr := webhook.Send(context.WithoutCancel(ctx), webhook.Options{URL: g.Webhook, Format: g.WebhookFormat}, g.payload(command, src, fired)); werr != nil {
		if err == nil {
			return werr
		}
		fmt.Fprintf(errOut, "warning: %s\n", render.Sanitize(werr.Error()))
		return err
	}
	fmt.Fprintf(errOut, "webhook: posted the summary to %s\n", render.Sanitize(webhook.Host(g.Webhook)))
	return err
}

// payload is the result's rows (text columns as text, the others as
// numbers: ns, fractions, bytes) and the rules that fired.
func (g *gateFlags) payload(command string, src gate.Source, fired []webhook.Fired) webhook.Payload {
	rows := src.Rows()
	p := webhook.Payload{Command: command, Time: time.Now().UTC(), Fired: fired, Rules: g.FailIf, RowsTotal: len(rows), Rows: []map[string]any{}}
	for _, r := range rows[:min(len(rows), webhook.MaxRows)] {
		m := map[string]any{"label": r.Label}
		for col, v := range r.Values {
			if g.schema.Columns[col] == gate.Text {
				m[col] = v.Str
			} else {
				m[col] = v.Num
			}
		}
		p.Rows = append(p.Rows, m)
	}
	return p
}

// errNoResult refuses --fail-if and --webhook where the output builds no
// result to check.
var errNoResult = errors.New("--fail-if and --webhook read the final result, which -o json does not build")
