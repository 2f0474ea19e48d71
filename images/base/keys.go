package base

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Fedora signs each FCOS artifact with the primary key of the Fedora release
// the artifact's major version is built on, so the keyring must cover every
// major version a stream may carry: the current releases, the one being
// stabilised on "next", and the previous one still found in caches.
//
//go:embed keys/*.asc
var keyFiles embed.FS

// FedoraKeyNames lists the shipped key files (fedora-NN-primary.asc), sorted.
func FedoraKeyNames() []string {
	entries, err := fs.ReadDir(keyFiles, "keys")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// FedoraKeyring returns the Fedora primary keys shipped with kiln, the
// keyring artifacts are verified against unless a Client is given another.
func FedoraKeyring() (openpgp.EntityList, error) {
	var ring openpgp.EntityList
	for _, name := range FedoraKeyNames() {
		data, err := keyFiles.ReadFile(path.Join("keys", name))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKeyring, name, err)
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKeyring, name, err)
		}
		ring = append(ring, el...)
	}
	if len(ring) == 0 {
		return nil, fmt.Errorf("%w: no keys shipped", ErrKeyring)
	}
	return ring, nil
}
