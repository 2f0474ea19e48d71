package judge

import "testing"

// TestTmpfilesRefusesDuplicates: two files declaring one directory make
// systemd-tmpfiles warn (and exit 0); the judge fails on the warning.
func TestTmpfilesRefusesDuplicates(t *testing.T) {
	mustReject(t, "Duplicate line", func(tb testing.TB) {
		Tmpfiles(tb, map[string]string{
			"a.conf": "d /var/lib/kiln/x 0755 root root -\n",
			"b.conf": "d /var/lib/kiln/x 0750 65534 65534 -\n",
		})
	})
	Tmpfiles(t, map[string]string{"a.conf": "d /var/lib/kiln/x 0755 root root -\n"})
}
