package judge

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// exposureRe finds systemd-analyze security's verdict, e.g. "→ Overall
// exposure level for kiln-firewall.service: 1.6 OK 🙂".
var exposureRe = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+\.[0-9]+) `)

// ParseExposure returns the overall exposure level that `systemd-analyze
// security` printed for unit.
func ParseExposure(out, unit string) (float64, error) {
	for _, m := range exposureRe.FindAllStringSubmatch(out, -1) {
		if m[1] == unit {
			return strconv.ParseFloat(m[2], 64)
		}
	}
	return 0, fmt.Errorf("no overall exposure level for %s in:\n%s", unit, out)
}

// SystemdSecurity scores each service unit (name to contents) with
// `systemd-analyze security --offline=true --no-pager` (systemd ≥ 250
// scores a unit file without loading it into a running manager) and
// returns the overall exposure level of each, from 0.0 (sandboxed) to 10.0
// (unconfined). The full report of a unit is logged, so a test that fails
// on a threshold shows which settings cost the points.
func SystemdSecurity(t testing.TB, units map[string]string) map[string]float64 {
	t.Helper()
	dir := t.TempDir()
	scores := map[string]float64{}
	for _, name := range sortedKeys(units) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(units[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := Exec(t, Command{Name: "systemd-analyze", Args: []string{"security", "--offline=true", "--no-pager", p}})
		if err != nil {
			t.Fatalf("%v\n%s", err, out.Combined())
		}
		score, err := ParseExposure(out.Stdout, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("systemd-analyze security %s: %.1f\n%s", name, score, out.Stdout)
		scores[name] = score
	}
	return scores
}
