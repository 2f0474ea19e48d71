package builder

import (
	"testing"

	"github.com/kiln-dev/kiln/overlays/sshd"
)

// TestBaseOpenSSH: the sshd lists follow the oldest FCOS release the
// spec admits, so ML-KEM is only offered where every admitted sshd knows it.
func TestBaseOpenSSH(t *testing.T) {
	for _, tc := range []struct {
		constraint string
		want       sshd.OpenSSH
	}{
		{"", sshd.Oldest},
		{">= 42", sshd.OpenSSH{Major: 9, Minor: 9}},
		{">= 43.20251101", sshd.OpenSSH{Major: 10}},
		{"~> 41.2025", sshd.OpenSSH{Major: 9, Minor: 8}},
		{"< 43", sshd.Oldest},
		{">= 30", sshd.Oldest},
	} {
		if got := baseOpenSSH(tc.constraint); got != tc.want {
			t.Errorf("baseOpenSSH(%q) = %v, want %v", tc.constraint, got, tc.want)
		}
	}
}
