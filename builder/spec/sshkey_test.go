package spec

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/badspecs"
)

func TestCheckSSHKey(t *testing.T) {
	const ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx"
	for _, tc := range []struct {
		line, err string // err "" means accepted
	}{
		{ed, ""},
		{ed + " ops@example", ""},
		{"  " + ed + " two words  ", ""},
		{`no-port-forwarding,from="10.0.0.0/8" ` + ed + " ops", ""},
		{badspecs.RSA3072Key, ""},
		{"ssh-ed25519 notakey", "not an SSH public key"},
		{"ssh-ed25519", "not an SSH public key"},
		{"", "not an SSH public key"},
		{ed[:len(ed)-4], "not an SSH public key"},
		{strings.Replace(ed, "ssh-ed25519", "ssh-rsa", 1), "is a ssh-ed25519 key but the line says ssh-rsa"},
		{strings.Replace(badspecs.RSA3072Key, "ssh-rsa", "ssh-ed25519", 1), "is a ssh-rsa key but the line says ssh-ed25519"},
		{badspecs.RSA2048Key, "2048 bits is too weak"},
		{badspecs.DSAKey, "DSA keys"},
		{ed + "\n" + ed, "more than one"},
	} {
		err := CheckSSHKey(tc.line)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("CheckSSHKey(%.40q…) = %v, want accepted", tc.line, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("CheckSSHKey(%.40q…) = %v, want %q", tc.line, err, tc.err)
		}
	}
}
