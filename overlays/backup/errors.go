package backup

import "errors"

// Configuration errors: Validate wraps one of these with the offending field.
var (
	// ErrBadHost means the snapshot host name is unusable.
	ErrBadHost = errors.New("invalid backup host name")
	// ErrNoSchedule means no backup schedule is configured.
	ErrNoSchedule = errors.New("at least one backup schedule is required")
	// ErrBadSchedule means a schedule's name or calendar expression is unusable.
	ErrBadSchedule = errors.New("invalid backup schedule")
	// ErrBadRetention means a retention count is negative or all counts are zero.
	ErrBadRetention = errors.New("invalid backup retention")
	// ErrBadDestination means the S3 destination is incomplete.
	ErrBadDestination = errors.New("invalid S3 destination")
	// ErrBadPath means a path that must be absolute and clean is not.
	ErrBadPath = errors.New("path must be absolute and clean")
	// ErrBadDatabase means the PostgreSQL or Redis settings are incomplete.
	ErrBadDatabase = errors.New("invalid database settings")
	// ErrBadDuration means a duration is out of range.
	ErrBadDuration = errors.New("invalid duration")
	// ErrBadImage means the restic image is not pinned to a tag or digest.
	ErrBadImage = errors.New("restic image must be pinned")
)

// ErrWarnings is matched (errors.Is) by the Warnings value Render returns
// when the output is complete but deserves the user's attention.
var ErrWarnings = errors.New("backup configuration has warnings")
