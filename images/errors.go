package images

import (
	"errors"

	"github.com/kiln-dev/kiln/images/base"
	"github.com/kiln-dev/kiln/images/internal/ext4"
)

// Errors about the base artifacts kiln refuses to write into.
var (
	// ErrNoBootPartition means the disk has no GPT partition labelled boot.
	ErrNoBootPartition = errors.New("no GPT partition labelled \"boot\"")
	// ErrNoFirstboot means ignition.firstboot is missing from the boot
	// filesystem, so Ignition would never run.
	ErrNoFirstboot = errors.New("ignition.firstboot missing on the boot filesystem")
	// ErrConfigExists means the base already carries an Ignition config.
	ErrConfigExists = errors.New("base already contains an embedded Ignition config")
	// ErrNoBLSEntry means no BLS entry with an options line was found.
	ErrNoBLSEntry = errors.New("no BLS entry with an ignition.platform.id option")
	// ErrConfigTooLarge means the config does not fit the embed area.
	ErrConfigTooLarge = errors.New("ignition config does not fit")
	// ErrNoEmbedArea means an ISO has no coreos/igninfo.json or kargs area.
	ErrNoEmbedArea = errors.New("ISO has no embed area")
	// ErrKargsTooLong means the kernel arguments do not fit the kargs area.
	ErrKargsTooLong = errors.New("kernel arguments do not fit the ISO's kargs area")
	// ErrBadKargsArea means the ISO's kargs area does not hold what
	// kargs.json says it does.
	ErrBadKargsArea = errors.New("ISO kargs area does not match coreos/kargs.json")
	// ErrNotGPT means the disk has no valid GPT header.
	ErrNotGPT = errors.New("disk has no GPT")
	// ErrNeedsRecovery means the boot filesystem's journal was not replayed;
	// writing to it would corrupt it.
	ErrNeedsRecovery = ext4.ErrNeedsRecovery
	// ErrUnsupportedBoot means the boot filesystem has a layout kiln will
	// not write to safely (no metadata_csum, a full or htree root directory).
	ErrUnsupportedBoot = ext4.ErrUnsupported
)

// Errors about requests.
var (
	// ErrUnknownPlatform means a platform kiln has no id for.
	ErrUnknownPlatform = errors.New("unknown platform")
	// ErrUnknownFormat means an output format kiln cannot write.
	ErrUnknownFormat = errors.New("unknown output format")
	// ErrMissingBase means a target needs a base artifact that was not given.
	ErrMissingBase = errors.New("base artifact missing for target")
	// ErrBadRequest means the request is incomplete.
	ErrBadRequest = errors.New("invalid build request")
)

// Errors about reading outputs back.
var (
	// ErrUnknownArtifact means Inspect does not recognise the file.
	ErrUnknownArtifact = errors.New("unrecognised artifact")
	// ErrNoConfig means the artifact carries no Ignition config.
	ErrNoConfig = errors.New("artifact carries no Ignition config")
	// ErrBadQcow2 means a qcow2 file kiln cannot read.
	ErrBadQcow2 = errors.New("unsupported or corrupt qcow2")
)

// Errors about the output directory.
var (
	// ErrLocked means another build holds the output directory's lock.
	ErrLocked = errors.New("another kiln build is writing to the output directory")
	// ErrOutputExists means an artifact of this build is already there.
	ErrOutputExists = errors.New("artifacts already exist")
	// ErrMixedOutput means the output directory holds another appliance,
	// version or config.
	ErrMixedOutput = errors.New("output directory holds another build")
	// ErrNoSpace means the outputs would not fit on the output filesystem.
	ErrNoSpace = errors.New("not enough free space")
)

// Errors about base artifacts that cannot be used as they are.
var (
	// ErrTruncatedBase means a base file is shorter than its own
	// structures say, or its compressed stream ends early or fails its
	// checksum: a broken download.
	ErrTruncatedBase = base.ErrTruncated
	// ErrBaseRelease means the base's FCOS release does not satisfy the
	// spec's base.release, or cannot be read.
	ErrBaseRelease = errors.New("base release does not match")
	// ErrUnsignedBase means a local base has no signature beside it and
	// --insecure-base was not given.
	ErrUnsignedBase = errors.New("local base artifact is not signed")
)
