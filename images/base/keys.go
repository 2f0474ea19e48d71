package base

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// FedoraFingerprints are the primary keys Fedora signs FCOS artifacts with,
// by Fedora release, as Fedora publishes them at
// https://fedoraproject.org/security/. FCOS N.x is signed with the Fedora N
// key, so the list covers the releases a stream carries now or soon. Only
// keys with these fingerprints are trusted, wherever they are read from.
var FedoraFingerprints = map[string]string{
	"42": "B0F4950458F69E1150C6C5EDC8AC4916105EF944",
	"43": "C6E7F081CF80E13146676E88829B606631645531",
	"44": "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6",
	"45": "4F50A6114CD5C6976A7F1179655A4B02F577861E",
	"46": "D924B10D3E810DABDD8B56B596E7E91491211FCE",
	"47": "B2E766FA50CA6FA2D5ED06FC09D879E09488FB64",
}

// KeyringEnv names a file or directory holding Fedora's public keys; it
// comes before KeyringDirs.
const KeyringEnv = "KILN_FEDORA_KEYS"

// KeyringDirs are where distributions install Fedora's public keys: the
// distribution-gpg-keys package (Fedora, Ubuntu, Debian 13 and later) and
// Fedora's own rpm keyring.
var KeyringDirs = []string{"/usr/share/distribution-gpg-keys/fedora", "/etc/pki/rpm-gpg"}

// FedoraKeyring returns Fedora's primary keys, read from $KILN_FEDORA_KEYS
// or KeyringDirs. kiln carries only the keys' fingerprints: the key
// material comes from the system, and a key is used only when its
// fingerprint is one of FedoraFingerprints, so a tampered key file cannot
// add trust.
func FedoraKeyring() (openpgp.EntityList, error) {
	paths := KeyringDirs
	if p := os.Getenv(KeyringEnv); p != "" {
		paths = append([]string{p}, paths...)
	}
	return LoadFedoraKeys(paths...)
}

// LoadFedoraKeys reads every key file under paths (files, or directories
// whose file names mention fedora) and keeps the keys whose fingerprint is
// pinned in FedoraFingerprints.
func LoadFedoraKeys(paths ...string) (openpgp.EntityList, error) {
	pinned := map[string]bool{}
	for _, fp := range FedoraFingerprints {
		pinned[fp] = true
	}
	var ring openpgp.EntityList
	seen := map[string]bool{}
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err != nil {
			continue
		} else if st.IsDir() {
			matches, _ := filepath.Glob(filepath.Join(p, "*"))
			files = files[:0]
			for _, m := range matches {
				if strings.Contains(strings.ToLower(filepath.Base(m)), "fedora") {
					files = append(files, m)
				}
			}
		}
		for _, f := range files {
			for _, e := range readKeyFile(f) {
				fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
				if pinned[fp] && !seen[fp] {
					seen[fp] = true
					ring = append(ring, e)
				}
			}
		}
	}
	if len(ring) == 0 {
		return nil, fmt.Errorf("%w: none of Fedora's signing keys found in %s; install the distribution-gpg-keys package, or set %s to a file or directory with Fedora's primary keys (https://fedoraproject.org/security/)",
			ErrKeyring, strings.Join(paths, ", "), KeyringEnv)
	}
	return ring, nil
}

// readKeyFile parses an armored or binary key file; anything else yields
// no keys (rpm keyring directories hold other files too).
func readKeyFile(p string) openpgp.EntityList {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	if el, err := openpgp.ReadArmoredKeyRing(f); err == nil {
		return el
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil
	}
	el, _ := openpgp.ReadKeyRing(f)
	return el
}
