// Package webhook posts a run's final summary and the --fail-if rules that
// fired to a URL (--webhook): as JSON, or as a Slack incoming-webhook
// message. It carries only the summary rows (aggregates: endpoint
// templates, counts, latencies, verdicts), never a request's values.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Formats of the payload.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// MaxRows bounds the rows a payload carries (the first, in the view's order).
const MaxRows = 500

// Payload is what is posted in the JSON format.
type Payload struct {
	Command   string           `json:"command"` // trace, profile, memory
	Time      time.Time        `json:"time"`
	Fired     []Fired          `json:"fired"` // empty: no rule fired
	Rules     []string         `json:"rules,omitempty"`
	Rows      []map[string]any `json:"rows"`
	RowsTotal int              `json:"rows_total"` // before MaxRows
}

// Fired is a rule that fired and the rows that broke it, with the numbers.
type Fired struct {
	Rule string   `json:"rule"`
	Why  []string `json:"why"`
}

// Options of a post. Zero fields take the defaults.
type Options struct {
	URL      string
	Format   string
	Timeout  time.Duration // per attempt; default 10s
	Attempts int           // default 3
	Backoff  time.Duration // before the second attempt, doubling; default 1s
	Client   *http.Client
}

// CheckURL accepts an absolute http or https URL with a host.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http:// or https:// URL with a host")
	}
	return nil
}

// Host is the URL's host, to name it without its path (Slack's webhook
// paths are secrets).
func Host(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "?"
	}
	return u.Host
}

// Send posts p, retrying network errors, 429 and 5xx answers with a
// growing pause; it gives up after Attempts, or at once on another 4xx.
func Send(ctx context.Context, o Options, p Payload) error {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	body, err := encode(o.Format, p)
	if err != nil {
		return err
	}
	pause := o.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := post(ctx, o, body)
		if err == nil {
			return nil
		}
		if !retry || attempt == o.Attempts {
			return fmt.Errorf("webhook to %s: %w (after %d attempts)", Host(o.URL), err, attempt)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook to %s: %w", Host(o.URL), ctx.Err())
		case <-time.After(pause):
		}
		pause *= 2
	}
}

func post(ctx context.Context, o Options, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kubectl-pixie")
	resp, err := o.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, fmt.Errorf("answered %s", resp.Status)
}

func encode(format string, p Payload) ([]byte, error) {
	if format == FormatSlack {
		return json.Marshal(map[string]string{"text": slackText(p)})
	}
	return json.Marshal(p)
}

// slackText is a short message: the verdict, then each fired rule with
// the rows that broke it.
func slackText(p Payload) string {
	var b strings.Builder
	if len(p.Fired) == 0 {
		fmt.Fprintf(&b, "kubectl pixie %s: no --fail-if rule fired (%d rows)", p.Command, p.RowsTotal)
		return b.String()
	}
	fmt.Fprintf(&b, ":rotating_light: kubectl pixie %s: %d --fail-if rule(s) fired", p.Command, len(p.Fired))
	for _, f := range p.Fired {
		fmt.Fprintf(&b, "\n• `%s`", slackEscape(f.Rule))
		for _, w := range f.Why {
			fmt.Fprintf(&b, "\n    %s", slackEscape(w))
		}
	}
	return b.String()
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}
