package spec

import (
	"os/exec"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

var calendarCases = []struct {
	expr  string
	valid bool
}{
	{"*-*-* 02:00:00", true},
	{"Sun *-*-* 03:00:00", true},
	{"Mon..Fri *-*-* 09:30", true},
	{"Mon,Wed,Fri 12:00", true},
	{"daily", true},
	{"weekly", true},
	{"hourly", true},
	{"*-*-01 04:00:00", true},
	{"2030-01-01 00:00:00", true},
	{"*-*-* 00,12:00:00", true},
	{"*:0/15", true},
	{"*-*~01 03:00", true},
	{"Sat *-*-1..7 05:00:00", true},
	{"*-*-* 02:00:00 UTC", true},
	{"weekly UTC", true},
	{"weekly utc", true},
	{"minutely UTC", true},
	{"daily Europe/Berlin", true},
	{"@1700000000", true},
	{"@0", true},
	{"@1700000000 UTC", true},
	{"@1700000000 Europe/Berlin", true},
	{"*-*-* 02:00:00 Europe/Berlin", true},
	{"Sun 03:00 America/New_York", true},
	{"Mon *-*-* 02:00 America/Argentina/Buenos_Aires", true},
	{"*-*-* 02:00 Etc/GMT+5", true},
	{"*-*-* 02:00 CET", true},
	{"2023-11-14 22:13:20 UTC", true},
	{"", false},
	{"*-*-* 02:00:00 Mars/Olympus", false},
	{"weekly Europe/Nowhere", false},
	{"*-*-* 02:00 UTC+2", false},
	{"*-*-* 02:00 Z", false},
	{"@abc", false},
	{"@-5", false},
	{"@1.5", false},
	{"@1700000000 02:00", false},
	{"every day", false},
	{"*-*-* 25:00:00", false},
	{"*-13-01 00:00", false},
	{"*-*-32 00:00", false},
	{"Funday 10:00", false},
	{"*-*-* 10:61", false},
	{"*-*-* 02:00:00 extra", false},
	{"*:0/0", false},
}

func TestCheckCalendar(t *testing.T) {
	for _, tc := range calendarCases {
		err := CheckCalendar(tc.expr)
		if (err == nil) != tc.valid {
			t.Errorf("CheckCalendar(%q) = %v, want valid=%v", tc.expr, err, tc.valid)
		}
	}
}

// TestCalendarAgreesWithSystemd judges the checker by systemd itself: every
// case must be accepted or refused by `systemd-analyze calendar` exactly as
// kiln does.
func TestCalendarAgreesWithSystemd(t *testing.T) {
	sa := testutil.Tool(t, "systemd-analyze")
	for _, tc := range calendarCases {
		if tc.expr == "" {
			continue // systemd-analyze needs an argument
		}
		out, err := exec.Command(sa, "calendar", tc.expr).CombinedOutput()
		if (err == nil) != tc.valid {
			t.Errorf("systemd-analyze calendar %q: valid=%v, kiln's table says %v\n%s", tc.expr, err == nil, tc.valid, out)
		}
	}
}
