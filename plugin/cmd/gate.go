package cmd

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// gateFlags are --fail-if rules, parsed before any I/O and checked on the
// final result: a rule that fires makes the command exit with status 3.
type gateFlags struct {
	FailIf []string
	rules  []*gate.Rule
}

func (g *gateFlags) addFlags(fs *pflag.FlagSet, example string) {
	fs.StringArrayVar(&g.FailIf, "fail-if", nil, fmt.Sprintf("exit with status 3 when this rule holds for a row of the final result, e.g. %s (repeatable: any rule; && inside one: all; see README \"Gates\")", example))
}

// validate parses every rule against the command's columns; no I/O.
func (g *gateFlags) validate(schema gate.Schema) error {
	g.rules = g.rules[:0]
	for _, s := range g.FailIf {
		r, err := gate.Parse(s, schema)
		if err != nil {
			return fmt.Errorf("--fail-if %s: %w", strconv.Quote(s), err)
		}
		g.rules = append(g.rules, r)
	}
	return nil
}

// check runs the rules on the final result when the run itself
// succeeded; it says on errOut which rules fired, with the numbers, and
// returns a *gate.Fired for them.
func (g *gateFlags) check(errOut io.Writer, result func() gate.Source, runErr error) error {
	if runErr != nil || len(g.rules) == 0 {
		return runErr
	}
	src := result()
	fired := &gate.Fired{}
	for _, r := range g.rules {
		ok, why := r.Check(src)
		if !ok {
			continue
		}
		fired.Rules = append(fired.Rules, r.Text)
		fmt.Fprintf(errOut, "--fail-if %s fired:\n", render.Sanitize(strconv.Quote(r.Text)))
		for _, w := range why {
			fmt.Fprintf(errOut, "  %s\n", render.Sanitize(w))
		}
	}
	if len(fired.Rules) == 0 {
		return nil
	}
	return fired
}
