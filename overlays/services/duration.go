package services

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

var promDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// parsePromDuration accepts Prometheus duration syntax (15s, 1h30m, 15d).
func parsePromDuration(s string) (string, error) {
	if !promDurationRE.MatchString(s) {
		return "", fmt.Errorf("want a duration such as 15s or 15d: %w", ErrInvalidValue)
	}
	return s, nil
}

// promDuration writes a duration in the largest whole Prometheus unit, so
// rules read 26h and 8d rather than 93600s.
func promDuration(d time.Duration) string {
	units := []struct {
		suffix string
		size   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	for _, u := range units {
		if d >= u.size && d%u.size == 0 {
			return strconv.FormatInt(int64(d/u.size), 10) + u.suffix
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// formatFloat writes the shortest exact decimal form.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// formatPercent writes a share as a percentage, rounded so that binary
// floating point does not show (0.05 is 5, not 5.000000000000001).
func formatPercent(share float64) string { return formatFloat(math.Round(share*100*1e4) / 1e4) }
