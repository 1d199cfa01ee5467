package trend

import (
	"fmt"
	"math"
	"time"
)

// Bytes formats n with binary units: 812 MiB, 1.5 GiB, 640 KiB, 12 B.
func Bytes(n float64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f B", n)
	case n < 10:
		return fmt.Sprintf("%.1f %s", n, units[i])
	default:
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
}

// SignedBytes is Bytes with an explicit sign: +3.0 MiB, -512 KiB, 0 B.
func SignedBytes(n float64) string {
	if n > 0 {
		return "+" + Bytes(n)
	}
	return Bytes(n)
}

// Rate formats a slope in bytes/s as MiB/min when that reads better
// (+9.6 MiB/min), else per second (+120 KiB/s).
func Rate(bps float64) string {
	if math.Abs(bps) >= 1<<20 || math.Abs(bps) < 1 {
		return SignedBytes(bps) + "/s"
	}
	if math.Abs(bps*60) >= 1<<20 {
		return SignedBytes(bps*60) + "/min"
	}
	return SignedBytes(bps) + "/s"
}

// Duration formats seconds briefly: 45s, 12m30s, 3h5m, 2d4h.
func Duration(sec float64) string {
	if sec < 0 || math.IsNaN(sec) {
		return "-"
	}
	if sec < 10 {
		return fmt.Sprintf("%.1fs", sec)
	}
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Hour:
		m, s := d/time.Minute, (d%time.Minute)/time.Second
		if m == 0 {
			return fmt.Sprintf("%ds", s)
		}
		return fmt.Sprintf("%dm%02ds", m, s)
	case d < 48*time.Hour:
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		return fmt.Sprintf("%dh%02dm", h, m)
	default:
		days, h := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
		return fmt.Sprintf("%dd%dh", days, h)
	}
}
