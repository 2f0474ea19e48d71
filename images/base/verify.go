package base

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Verification records what was proven about a file.
type Verification struct {
	// SHA256 is the file's digest, hex-encoded.
	SHA256 string `json:"sha256"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// ChecksumVerified is true when SHA256 equals a published digest.
	ChecksumVerified bool `json:"checksum_verified"`
	// Signer is the fingerprint of the key whose signature verified, empty
	// when no signature was checked.
	Signer string `json:"signer,omitempty"`
	// SignerIdentity is the signing key's user id, e.g. "Fedora (44) <…>".
	SignerIdentity string `json:"signer_identity,omitempty"`
}

// Verified reports whether both the digest and a signature were checked.
func (v Verification) Verified() bool { return v.ChecksumVerified && v.Signer != "" }

// hashFile returns the hex sha256 and size of the file at p.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkDigest compares a computed digest with the published one.
func checkDigest(name, got, want string) error {
	if !strings.EqualFold(got, want) {
		return fmt.Errorf("%w: %s has sha256 %s, the metadata says %s", ErrChecksum, name, got, want)
	}
	return nil
}

// checkSignature verifies a detached signature over the file at p.
func checkSignature(keyring openpgp.EntityList, p string, sig []byte) (*openpgp.Entity, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return checkSignatureReader(keyring, f, sig)
}

// checkSignatureReader verifies a detached signature (binary, as Fedora
// publishes it, or ASCII-armored) over signed and returns the signing entity.
func checkSignatureReader(keyring openpgp.EntityList, signed io.Reader, sig []byte) (*openpgp.Entity, error) {
	if len(bytes.TrimSpace(sig)) == 0 {
		return nil, fmt.Errorf("%w: the signature is empty", ErrMissingSignature)
	}
	var (
		signer *openpgp.Entity
		err    error
	)
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		signer, err = openpgp.CheckArmoredDetachedSignature(keyring, signed, bytes.NewReader(sig), nil)
	} else {
		signer, err = openpgp.CheckDetachedSignature(keyring, signed, bytes.NewReader(sig), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return signer, nil
}

// describeSigner returns the fingerprint and the first user id (sorted, for
// a stable record) of a signing entity.
func describeSigner(e *openpgp.Entity) (string, string) {
	fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	var ids []string
	for id := range e.Identities {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return fp, ""
	}
	return fp, ids[0]
}

// fedoraPrimary matches the user id of a Fedora primary key and captures
// its release number.
var fedoraPrimary = regexp.MustCompile(`<fedora-(\d+)-primary@fedoraproject\.org>`)

// checkSignerRelease binds a Fedora signature to the release's major
// version. FCOS N.x artifacts are signed with the Fedora N primary key, and
// the stream metadata that names an artifact is itself unsigned, so without
// this check a hostile mirror could pass off a genuinely signed artifact of
// another Fedora major version as the release asked for. Signers that are
// not Fedora primary keys (a private keyring) are not constrained.
func checkSignerRelease(v Verification, release string) error {
	m := fedoraPrimary.FindStringSubmatch(v.SignerIdentity)
	if m == nil {
		return nil
	}
	major, _, _ := strings.Cut(release, ".")
	if m[1] != major {
		return fmt.Errorf("%w: signed by the Fedora %s key, but release %s must be signed by the Fedora %s key", ErrSignature, m[1], release, major)
	}
	return nil
}

// LocalCheck is what the user supplies to verify a local base file.
type LocalCheck struct {
	// SHA256 is the expected digest, hex-encoded; empty skips the digest check.
	SHA256 string
	// SignaturePath is a detached signature file; empty skips the signature check.
	SignaturePath string
}

// VerifyLocal checks a base artifact the user supplied as a local path.
// The file is used as is and never modified or deleted, even when it fails:
// it is the user's, not the cache's. With an empty check nothing is proven
// and the returned Verification says so (Verified() is false).
func VerifyLocal(p string, check LocalCheck, keyring openpgp.EntityList) (Verification, error) {
	sum, size, err := hashFile(p)
	if err != nil {
		return Verification{}, err
	}
	v := Verification{SHA256: sum, Size: size}
	if check.SHA256 != "" {
		if err := checkDigest(p, sum, check.SHA256); err != nil {
			return v, fmt.Errorf("%w (the local file was left untouched; check that it is the artifact you meant)", err)
		}
		v.ChecksumVerified = true
	}
	if check.SignaturePath != "" {
		if keyring == nil {
			if keyring, err = FedoraKeyring(); err != nil {
				return v, err
			}
		}
		sig, err := os.ReadFile(check.SignaturePath)
		if err != nil {
			return v, fmt.Errorf("%w: %w", ErrMissingSignature, err)
		}
		e, err := checkSignature(keyring, p, sig)
		if err != nil {
			return v, fmt.Errorf("%s: %w (the local file was left untouched; fetch the artifact and its .sig from the stream again)", p, err)
		}
		v.Signer, v.SignerIdentity = describeSigner(e)
	}
	return v, nil
}
