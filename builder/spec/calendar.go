package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The tz database, for build machines that have none.
	_ "time/tzdata"
	"unicode"
)

// CheckCalendar validates a systemd OnCalendar expression (systemd.time(7)).
// systemd-analyze is not on the machine that builds images, and no Go
// library parses this grammar, so kiln carries this checker; its tests
// compare it with `systemd-analyze calendar` on the same expressions.
func CheckCalendar(expr string) error {
	e := strings.TrimSpace(expr)
	if e == "" {
		return fmt.Errorf("empty calendar expression")
	}
	toks := strings.Fields(e)
	// A time zone may follow any form, as the last word; systemd takes
	// UTC in any case and every name of the tz database.
	if len(toks) > 1 {
		last := toks[len(toks)-1]
		if err := checkTimezone(last); err == nil {
			toks = toks[:len(toks)-1]
		} else if strings.Contains(last, "/") || len(toks) == 2 && (isShorthand(toks[0]) || strings.HasPrefix(toks[0], "@")) {
			// Only a zone can stand here: say what is wrong with it.
			return err
		}
	}
	if len(toks) == 1 && isShorthand(toks[0]) {
		return nil
	}
	// "@" and seconds since the epoch name one moment.
	if secs, ok := strings.CutPrefix(toks[0], "@"); ok {
		if len(toks) > 1 {
			return fmt.Errorf("unexpected %q after an @epoch time", toks[1])
		}
		if _, err := strconv.ParseUint(secs, 10, 63); err != nil {
			return fmt.Errorf("%q is not @ and a whole number of seconds since 1970", toks[0])
		}
		return nil
	}
	i := 0
	if i < len(toks) && isWeekdayToken(toks[i]) {
		if err := checkWeekdays(toks[i]); err != nil {
			return err
		}
		i++
	}
	if i < len(toks) && !strings.Contains(toks[i], ":") && (strings.ContainsAny(toks[i], "-~") || toks[i] == "*") {
		if err := checkDate(toks[i]); err != nil {
			return err
		}
		i++
	}
	if i < len(toks) && strings.Contains(toks[i], ":") {
		if err := checkTime(toks[i]); err != nil {
			return err
		}
		i++
	}
	if i < len(toks) {
		return fmt.Errorf("unexpected %q", toks[i])
	}
	if i == 0 {
		return fmt.Errorf("no date, time or weekday")
	}
	return nil
}

var weekdays = map[string]bool{
	"mon": true, "tue": true, "wed": true, "thu": true, "fri": true, "sat": true, "sun": true,
	"monday": true, "tuesday": true, "wednesday": true, "thursday": true, "friday": true, "saturday": true, "sunday": true,
}

func isWeekdayToken(tok string) bool {
	c := tok[0]
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isShorthand(tok string) bool {
	switch strings.ToLower(tok) {
	case "minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually", "quarterly", "semiannually":
		return true
	}
	return false
}

// checkTimezone accepts what systemd accepts as a calendar's time zone:
// UTC in any case, or a name of the tz database (Europe/Berlin, CET).
// time.LoadLocation reads the build machine's tz database and falls back
// to Go's embedded copy, so a machine without tzdata (a slim container)
// still knows every zone; it refuses names with "..", so it only ever
// reads zone files.
func checkTimezone(tok string) error {
	if strings.EqualFold(tok, "UTC") {
		return nil
	}
	if tok == "" || tok == "Local" || strings.ContainsAny(tok, ":*,.~@") || !unicode.IsLetter(rune(tok[0])) {
		return fmt.Errorf("%q is not a time zone", tok)
	}
	if _, err := time.LoadLocation(tok); err != nil {
		return fmt.Errorf("unknown time zone %q (use UTC or a tz database name such as Europe/Berlin)", tok)
	}
	return nil
}

func checkWeekdays(tok string) error {
	for _, part := range strings.Split(tok, ",") {
		lo, hi, isRange := strings.Cut(part, "..")
		for _, d := range []string{lo, hi} {
			if d == "" && !isRange {
				continue
			}
			if !weekdays[strings.ToLower(d)] {
				return fmt.Errorf("%q is not a weekday (use Mon, Tue, … or Mon..Fri)", d)
			}
		}
	}
	return nil
}

func checkDate(tok string) error {
	if tok == "*" {
		return nil
	}
	// The day may be counted from the month's end with "~".
	parts := strings.Split(tok, "-")
	if strings.Contains(tok, "~") {
		i := strings.LastIndex(tok, "~")
		head := strings.Split(tok[:i], "-")
		parts = append(head, tok[i+1:])
	}
	var fields []struct {
		name   string
		lo, hi int
	}
	switch len(parts) {
	case 2:
		fields = []struct {
			name   string
			lo, hi int
		}{{"month", 1, 12}, {"day", 1, 31}}
	case 3:
		fields = []struct {
			name   string
			lo, hi int
		}{{"year", 1970, 2199}, {"month", 1, 12}, {"day", 1, 31}}
	default:
		return fmt.Errorf("date %q is not [YYYY-]MM-DD", tok)
	}
	for i, p := range parts {
		if err := checkComponent(p, fields[i].name, fields[i].lo, fields[i].hi); err != nil {
			return err
		}
	}
	return nil
}

func checkTime(tok string) error {
	parts := strings.Split(tok, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("time %q is not HH:MM[:SS]", tok)
	}
	names := []string{"hour", "minute", "second"}
	his := []int{23, 59, 59}
	for i, p := range parts {
		if i == 2 {
			p, _, _ = strings.Cut(p, ".")
		}
		if err := checkComponent(p, names[i], 0, his[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkComponent checks one field: "*", or a comma list of values, ranges
// (a..b) and repetitions (v/step, a..b/step).
func checkComponent(p, name string, lo, hi int) error {
	if p == "" {
		return fmt.Errorf("empty %s", name)
	}
	for _, item := range strings.Split(p, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n <= 0 {
				return fmt.Errorf("%s repetition %q is not a positive number", name, step)
			}
		}
		if base == "*" {
			continue
		}
		a, b, isRange := strings.Cut(base, "..")
		for _, v := range []string{a, b} {
			if v == "" && !isRange {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s %q is not a number", name, v)
			}
			if n < lo || n > hi {
				return fmt.Errorf("%s %d is out of range %d..%d", name, n, lo, hi)
			}
		}
	}
	return nil
}
