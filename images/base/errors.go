package base

import "errors"

// Metadata and release selection.
var (
	// ErrUnknownStream is returned for a stream name FCOS does not publish.
	ErrUnknownStream = errors.New("unknown Fedora CoreOS stream")
	// ErrMetadata is returned when stream or release metadata cannot be parsed.
	ErrMetadata = errors.New("invalid Fedora CoreOS metadata")
	// ErrConstraint is returned for a release constraint that does not parse.
	ErrConstraint = errors.New("invalid release constraint")
	// ErrNoMatchingRelease is returned when no available release satisfies the constraint.
	ErrNoMatchingRelease = errors.New("no release matches the constraint")
	// ErrPlatform is returned when a release has no artifacts for the platform.
	ErrPlatform = errors.New("platform not published")
	// ErrFormat is returned when a platform has no artifacts in the format.
	ErrFormat = errors.New("format not published")
)

// Transfer.
var (
	// ErrHTTPStatus is returned when the server answers with a non-200 status.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrUnavailable is returned, with ErrHTTPStatus, for a 5xx answer: the
	// server is there but cannot serve, so the cache may stand in for it.
	ErrUnavailable = errors.New("server unavailable")
	// ErrOffline is returned when the network is not to be used and the cache cannot answer.
	ErrOffline = errors.New("not in the cache and offline")
)

// Provenance.
var (
	// ErrChecksum is returned when an artifact's sha256 differs from its metadata.
	ErrChecksum = errors.New("sha256 mismatch")
	// ErrSignature is returned when an artifact's detached signature does not verify
	// against the keyring.
	ErrSignature = errors.New("bad OpenPGP signature")
	// ErrMissingSignature is returned when an artifact comes without a signature.
	ErrMissingSignature = errors.New("missing OpenPGP signature")
	// ErrKeyring is returned when Fedora's signing keys cannot be found.
	ErrKeyring = errors.New("invalid keyring")
)

// Cache.
var (
	// ErrCacheRecord is returned when a cache directory's verification record is unreadable.
	ErrCacheRecord = errors.New("unreadable cache record")
)
