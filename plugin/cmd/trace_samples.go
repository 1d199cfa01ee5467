package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// traceSamples are the flags that list the requests behind the numbers:
// the agent keeps the slowest and the latest failed requests of each
// endpoint and sends them at the end of the run.
type traceSamples struct {
	Slow    time.Duration
	Errors  bool
	Samples int
}

func (s *traceSamples) addFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&s.Slow, "slow", 0, "list the slowest requests at least this slow, per endpoint, below the table (-o json: their records with \"sample\":\"slow\"), e.g. 250ms")
	fs.BoolVar(&s.Errors, "errors", false, "list the latest failed requests (what ERR% counts) per endpoint, below the table (-o json: their records with \"sample\":\"error\")")
	fs.IntVar(&s.Samples, "samples", api.DefaultSamplesPerEndpoint, fmt.Sprintf("how many requests --slow and --errors list per endpoint (1 to %d; 0: the default)", api.MaxSamplesPerEndpoint))
}

// validate checks the flags; it does no I/O.
func (s *traceSamples) validate() error {
	if s.Slow < 0 {
		return fmt.Errorf("--slow %s is negative: use a duration such as 250ms", s.Slow)
	}
	if s.Samples < 0 || s.Samples > api.MaxSamplesPerEndpoint {
		return fmt.Errorf("--samples %d is out of range: use 1 to %d requests per endpoint", s.Samples, api.MaxSamplesPerEndpoint)
	}
	return nil
}

// agent is what the agent keeps; nil when neither list is asked for.
func (s *traceSamples) agent() *api.SampleConfig {
	if s.Slow == 0 && !s.Errors {
		return nil
	}
	return &api.SampleConfig{SlowNs: s.Slow.Nanoseconds(), Errors: s.Errors, PerEndpoint: s.Samples}
}

// table collects the samples for the table views; nil when none are
// asked for, or with -o json (which passes the records through).
func (s *traceSamples) table(output string) *render.Samples {
	if s.agent() == nil || output == "json" {
		return nil
	}
	return render.NewSamples(s.agent().Keep(), s.Slow.Nanoseconds(), s.Errors)
}
