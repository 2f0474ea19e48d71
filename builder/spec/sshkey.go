package spec

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA key kiln accepts for login; NIST SP 800-57
// and OpenSSH's own ssh-keygen default put the floor at 3072 bits.
const MinRSABits = 3072

// CheckSSHKey parses one authorized_keys line the way sshd will and returns
// what is wrong with it, or nil. A regex cannot tell a truncated or
// mislabelled key from a good one; parsing the key blob can.
func CheckSSHKey(line string) error {
	line = strings.TrimSpace(line)
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("holds more than one line; give one key per list entry")
	}
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Errorf("not an SSH public key (%v)", strings.TrimPrefix(err.Error(), "ssh: "))
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return fmt.Errorf("holds more than one key; give one key per list entry")
	}
	// ParseAuthorizedKey reads the type from the blob and ignores the
	// label in front of it; sshd refuses a key whose label disagrees.
	blob := base64.StdEncoding.EncodeToString(key.Marshal())
	i := strings.Index(line, blob)
	if i < 0 {
		return fmt.Errorf("not an SSH public key (the key data is not in canonical base64)")
	}
	fields := strings.Fields(line[:i])
	if len(fields) == 0 {
		return fmt.Errorf("not an SSH public key (no key type before the key data)")
	}
	if label := fields[len(fields)-1]; label != key.Type() {
		return fmt.Errorf("the key data is a %s key but the line says %s", key.Type(), label)
	}
	switch t := key.Type(); {
	case t == ssh.InsecureKeyAlgoDSA:
		return fmt.Errorf("DSA keys are broken and refused by current OpenSSH")
	case strings.Contains(t, "-cert-v01@openssh.com"):
		return fmt.Errorf("this is an SSH certificate, not a public key")
	case t == ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		pub, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		if n := pub.N.BitLen(); n < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is too weak (at least %d)", n, MinRSABits)
		}
	}
	return nil
}
