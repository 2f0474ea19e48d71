package judge

import (
	"strings"
	"testing"
)

// TestSELinuxVolumes: the judge refuses each way a volume breaks under
// enforcing SELinux, with the lines seen in kiln's output before it was
// fixed, and accepts the fixed forms.
func TestSELinuxVolumes(t *testing.T) {
	owned := []string{"/etc/kiln", "/var/lib/kiln"}
	bad := map[string]string{
		"[Container]\nVolume=/:/host:ro,z,rslave\n":                               "refuses to relabel /",
		"[Container]\nVolume=/var/log/:/x:ro,z\n":                                 "refuses to relabel /var/log",
		"[Container]\nVolume=/var/log/journal:/var/log/journal:ro,z\n":            "host system path",
		"[Container]\nVolume=/etc/machine-id:/etc/machine-id:ro,z\n":              "host system path",
		"[Container]\nVolume=postgres-data.volume:/var/lib/postgresql/data:Z\n":   "use z",
		"[Container]\nVolume=/var/lib/kiln/x:/x:Z\n":                              "use z",
		"[Container]\nVolume=/var/log/journal:/var/log/journal:ro\n":              "SecurityLabelDisable=true",
		"[Container]\nSecurityLabelDisable=false\nVolume=/etc/machine-id:/m:ro\n": "SecurityLabelDisable=true",
	}
	for unit, want := range bad {
		got := SELinuxVolumes(unit, owned...)
		if len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("%q: got %q, want one problem mentioning %q", unit, got, want)
		}
	}
	good := []string{
		"[Container]\nVolume=postgres-data.volume:/var/lib/postgresql/data:z\n",
		"[Container]\nVolume=/etc/kiln/redis:/etc/redis:ro,z\nVolume=/var/lib/kiln/wal-archive:/w:z\n",
		"[Container]\nSecurityLabelDisable=true\nVolume=/:/host:ro,rslave\nVolume=/var/log/journal:/var/log/journal:ro\n",
		"[Container]\nVolume=/etc/kiln/loki:/etc/loki:ro\n",
	}
	for _, unit := range good {
		if got := SELinuxVolumes(unit, owned...); len(got) != 0 {
			t.Errorf("%q: unexpected problems %q", unit, got)
		}
	}
}
