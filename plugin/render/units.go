package render

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// FormatCount writes n with thousands separators: 1,204.
func FormatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// FormatLatency writes a duration in ns with about three significant
// digits and its unit: 850ns, 4.1µs, 412µs, 4.1ms, 22.0ms, 410ms, 1.2s, 2m05s.
func FormatLatency(ns float64) string {
	switch {
	case math.IsNaN(ns) || ns < 0:
		return "-"
	// bounds at x99.5 so rounding never prints 1000µs
	case ns < 999.5:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 999.5e3:
		return sig(ns/1e3, "µs")
	case ns < 999.5e6:
		return sig(ns/1e6, "ms")
	case ns < 59.95e9:
		return sig(ns/1e9, "s")
	}
	d := time.Duration(ns).Round(time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// sig: one decimal below 100, none from 100 (4.1, 22.0, 410).
func sig(v float64, unit string) string {
	if v < 99.95 {
		return strconv.FormatFloat(v, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + unit
}

// FormatRate writes requests per second: 0.4, 70.8, 1,204.
func FormatRate(perSec float64) string {
	if perSec < 999.95 {
		return strconv.FormatFloat(perSec, 'f', 1, 64)
	}
	return FormatCount(uint64(math.Round(perSec)))
}

// FormatPercent writes a percentage with one decimal (100 without).
// A non-zero value never rounds to 0.0, so a single error stays visible.
func FormatPercent(p float64) string {
	switch {
	case p >= 99.95:
		return "100"
	case p > 0 && p < 0.1:
		return "<0.1"
	}
	return strconv.FormatFloat(p, 'f', 1, 64)
}

// FormatBytes writes a size in binary units: 512 B, 4.0 KiB, 31 MiB.
func FormatBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	v, i := float64(b), -1
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	u := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[i]
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + u
}

// FormatClock writes a window position: 00:17, 12:03, 1:02:03.
func FormatClock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// FormatWindow writes a whole window length: 30s, 5m, 1m30s, 2h.
func FormatWindow(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", int(d.Minutes()))
		}
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
