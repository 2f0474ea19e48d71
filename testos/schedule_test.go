package testos_test

// What the VM test's backup checks (backup_test.go, build tag vmtest) read
// and change, kept apart from the boot so that `go test ./testos/` checks
// it without a VM.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// endpointLine is the backup.s3.endpoint line of clipper.yaml.
var endpointLine = regexp.MustCompile(`(?m)^(\s+endpoint: )\S+`)

// pointBackupAt returns the spec with backup.s3.endpoint replaced by
// endpoint; it is the only other field of Clipper's spec the test changes.
func pointBackupAt(data []byte, endpoint string) ([]byte, error) {
	if n := len(endpointLine.FindAll(data, -1)); n != 1 {
		return nil, fmt.Errorf("clipper.yaml has %d endpoint lines, want the one of backup.s3", n)
	}
	return endpointLine.ReplaceAll(data, []byte("${1}"+endpoint)), nil
}

// calendarNext is what systemd-analyze calendar says of an expression.
type calendarNext struct {
	normalized string
	next       time.Time
}

// parseTimer reads checkTimers's command output: the next elapse as
// "@UNIX", the randomized delay from systemd-analyze timespan ("μs: N"),
// TimersCalendar, and systemd-analyze calendar's "Normalized form:" and
// "Next elapse:" lines.
func parseTimer(out string) (next time.Time, delay time.Duration, calendar string, want calendarNext, err error) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "@"):
			sec, err := strconv.ParseInt(line[1:], 10, 64)
			if err != nil {
				return next, delay, calendar, want, fmt.Errorf("next elapse %q: %w", line, err)
			}
			next = time.Unix(sec, 0)
		case strings.HasPrefix(line, "μs:"), strings.HasPrefix(line, "us:"):
			// "us:" where the locale is not UTF-8.
			_, v, _ := strings.Cut(line, ":")
			us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return next, delay, calendar, want, fmt.Errorf("randomized delay %q: %w", line, err)
			}
			delay = time.Duration(us) * time.Microsecond
		case strings.HasPrefix(line, "{ OnCalendar="):
			calendar = line
		case strings.HasPrefix(line, "Normalized form:"):
			want.normalized = strings.TrimSpace(strings.TrimPrefix(line, "Normalized form:"))
		case strings.HasPrefix(line, "Next elapse:") && want.next.IsZero(), strings.HasPrefix(line, "(in UTC):"):
			// The "(in UTC)" line, when the guest's zone is not UTC, is
			// the one Go parses without knowing the zone.
			_, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			if want.next, err = time.Parse("Mon 2006-01-02 15:04:05 MST", v); err != nil {
				return next, delay, calendar, want, fmt.Errorf("calendar's next elapse %q: %w", v, err)
			}
		}
	}
	if next.IsZero() || want.next.IsZero() || want.normalized == "" || calendar == "" {
		return next, delay, calendar, want, fmt.Errorf("missing the timer's next elapse, its calendar or the calendar's next elapse")
	}
	return next, delay, calendar, want, nil
}

func TestParseTimer(t *testing.T) {
	out := `@1764468253

Original: 10min
      μs: 600000000
   Human: 10min

{ OnCalendar=*-*-* 02:00:00 ; next_elapse=Mon 2025-11-30 02:04:13 UTC }

  Original form: *-*-* 02:00:00
Normalized form: *-*-* 02:00:00
    Next elapse: Mon 2025-11-30 02:00:00 UTC
       From now: 14h left
`
	next, delay, calendar, want, err := parseTimer(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := next.UTC().Format(time.DateTime); got != "2025-11-30 02:04:13" {
		t.Errorf("next = %s", got)
	}
	if delay != 10*time.Minute {
		t.Errorf("delay = %s", delay)
	}
	if !strings.HasPrefix(calendar, "{ OnCalendar=*-*-* 02:00:00 ;") || want.normalized != "*-*-* 02:00:00" {
		t.Errorf("calendar %q, normalized %q", calendar, want.normalized)
	}
	if got := want.next.UTC().Format(time.DateTime); got != "2025-11-30 02:00:00" {
		t.Errorf("calendar's next = %s", got)
	}
	// A guest in another zone: the UTC line counts.
	_, _, _, want, err = parseTimer(strings.Replace(out, "    Next elapse: Mon 2025-11-30 02:00:00 UTC\n",
		"    Next elapse: Mon 2025-11-30 03:00:00 CET\n       (in UTC): Mon 2025-11-30 02:00:00 UTC\n", 1))
	if err != nil || want.next.UTC().Format(time.DateTime) != "2025-11-30 02:00:00" {
		t.Errorf("with a zone: %s, %v", want.next.UTC(), err)
	}
	// systemd-analyze in a locale that is not UTF-8.
	if _, delay, _, _, err := parseTimer(strings.Replace(out, "μs:", "us:", 1)); err != nil || delay != 10*time.Minute {
		t.Errorf("with us: delay %s, %v", delay, err)
	}
	if _, _, _, _, err := parseTimer("@1764468253\n"); err == nil {
		t.Error("no calendar: no error")
	}
}

func TestPointBackupAt(t *testing.T) {
	in := []byte("backup:\n  s3:\n    endpoint: https://s3.eu-central-1.amazonaws.com\n    bucket: b\n")
	got, err := pointBackupAt(in, "http://10.0.2.2:4567")
	if err != nil {
		t.Fatal(err)
	}
	if want := "backup:\n  s3:\n    endpoint: http://10.0.2.2:4567\n    bucket: b\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := pointBackupAt([]byte("backup:\n  s3:\n    bucket: b\n"), "http://x"); err == nil {
		t.Error("no endpoint line: no error")
	}
}
