package base

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
)

// streamIDs are the stream numbers FCOS writes into the third field of a
// release version (MAJOR.YYYYMMDD.STREAM.N); production streams only.
var streamIDs = map[string]string{"1": "next", "2": "testing", "3": "stable"}

// ParseVersion reads what an FCOS release version says about itself: the
// day it was built and the stream it was built for ("" when the stream
// number is not a production one).
func ParseVersion(release string) (built time.Time, stream string, err error) {
	parts := strings.Split(release, ".")
	if len(parts) != 4 {
		return time.Time{}, "", fmt.Errorf("%w: release %q is not MAJOR.YYYYMMDD.STREAM.N", ErrMetadata, release)
	}
	built, err = time.Parse("20060102", parts[1])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: release %q has no build date: %w", ErrMetadata, release, err)
	}
	return built, streamIDs[parts[2]], nil
}

// Freshness compares the FCOS release a server runs with the newest one
// of its stream. An immutable server only gets kernel and OpenSSH fixes
// through a rebuild, so a newer release means a rebuild is due.
type Freshness struct {
	Stream string
	// Release and Built are the server's release and its build date.
	Release string
	Built   time.Time
	// Latest and LatestBuilt are the stream's current release.
	Latest      string
	LatestBuilt time.Time
	// Newer is true when Latest is newer than Release.
	Newer bool
}

// Age is how old the server's release is at now.
func (f Freshness) Age(now time.Time) time.Duration { return now.Sub(f.Built) }

// RebuildDue is true once a newer release has been out for longer than
// grace: the same rule as the server's KilnBaseRebuildDue alert.
func (f Freshness) RebuildDue(now time.Time, grace time.Duration) bool {
	return f.Newer && now.Sub(f.LatestBuilt) > grace
}

// Outdated fetches the stream's metadata and compares release with the
// stream's current metal release. An empty stream is read from release.
func (c *Client) Outdated(ctx context.Context, stream, release string) (Freshness, error) {
	built, own, err := ParseVersion(release)
	if err != nil {
		return Freshness{}, err
	}
	if stream == "" {
		stream = own
	}
	if stream == "" {
		return Freshness{}, fmt.Errorf("%w: release %q names no production stream; give one", ErrMetadata, release)
	}
	s, err := c.Stream(ctx, stream)
	if err != nil {
		return Freshness{}, err
	}
	latest := s.Architectures[c.arch()].Artifacts["metal"].Release
	if latest == "" {
		return Freshness{}, fmt.Errorf("%w: stream %s has no metal release for %s", ErrMetadata, stream, c.arch())
	}
	latestBuilt, _, err := ParseVersion(latest)
	if err != nil {
		return Freshness{}, err
	}
	cur, err1 := version.NewVersion(release)
	lat, err2 := version.NewVersion(latest)
	if err1 != nil || err2 != nil {
		return Freshness{}, fmt.Errorf("%w: cannot compare %q with %q", ErrMetadata, release, latest)
	}
	return Freshness{Stream: stream, Release: release, Built: built, Latest: latest, LatestBuilt: latestBuilt, Newer: lat.GreaterThan(cur)}, nil
}
