package judge

import (
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestParseExposure(t *testing.T) {
	out := "  NAME  DESCRIPTION  EXPOSURE\n✗ PrivateNetwork= Service has access to the host's network 0.5\n\n" +
		"→ Overall exposure level for a.service: 9.6 UNSAFE 😨\n→ Overall exposure level for b.service: 1.2 OK 🙂\n"
	for unit, want := range map[string]float64{"a.service": 9.6, "b.service": 1.2} {
		got, err := ParseExposure(out, unit)
		if err != nil || got != want {
			t.Errorf("ParseExposure(%s) = %v, %v; want %v", unit, got, err, want)
		}
	}
	if _, err := ParseExposure(out, "c.service"); err == nil {
		t.Error("ParseExposure found a score for a unit the output does not name")
	}
}

// TestSystemdSecurity checks that the judge tells an unconfined unit from a
// sandboxed one, with the scores systemd 252 gives them.
func TestSystemdSecurity(t *testing.T) {
	testutil.Tool(t, "systemd-analyze")
	const plain = "[Service]\nType=oneshot\nExecStart=/usr/bin/true\n"
	const confined = plain + `DynamicUser=yes
PrivateNetwork=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
CapabilityBoundingSet=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
IPAddressDeny=any
UMask=0077
`
	scores := SystemdSecurity(t, map[string]string{"plain.service": plain, "confined.service": confined})
	if s := scores["plain.service"]; s < 9 {
		t.Errorf("an unconfined unit scored %.1f, want > 9", s)
	}
	if s := scores["confined.service"]; s > 2 {
		t.Errorf("a sandboxed unit scored %.1f, want <= 2", s)
	}
}
