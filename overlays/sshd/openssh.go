package sshd

import (
	"fmt"
	"strings"
)

// OpenSSH is an OpenSSH release (portable versions add "p1", which never
// changes the algorithms known).
type OpenSSH struct {
	Major, Minor int
}

// String is the version as sshd reports it, without the portable suffix.
func (v OpenSSH) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v is o or newer.
func (v OpenSSH) AtLeast(o OpenSSH) bool {
	return v.Major > o.Major || v.Major == o.Major && v.Minor >= o.Minor
}

// fcosOpenSSH is the one place that knows which OpenSSH each Fedora CoreOS
// major release ships (Fedora's openssh package of that release). sshd
// refuses to start on an algorithm name it does not know, which would lock
// everyone out of an immutable server, so a list is only ever emitted for
// a version at or below the one the base really has.
var fcosOpenSSH = []struct {
	fedora  int
	openssh OpenSSH
}{
	{39, OpenSSH{9, 3}},
	{40, OpenSSH{9, 6}},
	{41, OpenSSH{9, 8}},
	{42, OpenSSH{9, 9}},
	{43, OpenSSH{10, 0}},
}

// Oldest is the OpenSSH of the oldest FCOS release kiln knows; its
// algorithm list is safe on every release kiln builds.
var Oldest = fcosOpenSSH[0].openssh

// ForFCOS returns the OpenSSH version of an FCOS major release. A release
// newer than the table gets the newest version known (OpenSSH keeps the
// names it once accepted); an older one gets ok false.
func ForFCOS(major int) (v OpenSSH, ok bool) {
	if major < fcosOpenSSH[0].fedora {
		return OpenSSH{}, false
	}
	for _, r := range fcosOpenSSH {
		if r.fedora <= major {
			v = r.openssh
		}
	}
	return v, true
}

// Algorithms are the lists one OpenSSH version is given, each in order of
// preference.
type Algorithms struct {
	Kex, Ciphers, MACs, HostKey, PubkeyAccepted []string
}

// Versions that change the lists.
var (
	// mlkemSince is the first release with the mlkem768x25519-sha256
	// hybrid post-quantum key exchange (and the unsuffixed sntrup name).
	mlkemSince = OpenSSH{9, 9}
	// PenaltiesSince is the first release whose sshd knows
	// PerSourcePenalties, the brute-force guard kiln configures.
	PenaltiesSince = OpenSSH{9, 8}
	// invalidUserSince is the first release with the invaliduser penalty
	// (OpenSSH commit 49480f19); before it such tries count as noauth.
	invalidUserSince = OpenSSH{10, 3}
)

// AlgorithmsFor returns the lists for an OpenSSH version. They are what
// ssh-audit's built-in hardening policy for that version asks for, in its
// order: key exchanges post-quantum first, AEAD ciphers before CTR,
// encrypt-then-MAC only, and Ed25519 or RSA-SHA2 host keys (ssh-audit
// fails NIST-curve ECDSA host keys, whose curves' provenance is doubted).
func AlgorithmsFor(v OpenSSH) Algorithms {
	a := Algorithms{
		Kex:     []string{"sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha256"},
		Ciphers: []string{"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr"},
		MACs:    []string{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "umac-128-etm@openssh.com"},
		HostKey: []string{"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256", "rsa-sha2-256-cert-v01@openssh.com"},
		// User keys are not what ssh-audit judges: hardware-backed (sk-)
		// and NIST ECDSA user keys stay welcome, SHA-1 (ssh-rsa) does not.
		PubkeyAccepted: []string{"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256", "rsa-sha2-256-cert-v01@openssh.com"},
	}
	if v.AtLeast(mlkemSince) {
		a.Kex = append([]string{"sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256"}, a.Kex[1:]...)
	}
	return a
}

func join(s []string) string { return strings.Join(s, ",") }
