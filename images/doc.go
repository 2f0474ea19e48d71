// Package images turns a rendered Ignition config into Fedora CoreOS
// artifacts: raw, qcow2 and vhd disks, live ISOs and PXE bundles, plus the
// base artifacts they start from.
//
// Build is the one entry point for writing: it takes a Request (config,
// name, version, targets such as {Platform: "proxmoxve", Format: "qcow2.xz"},
// base artifacts, SOURCE_DATE_EPOCH) and writes every output, manifest.json
// and SHA256SUMS into the output directory, or nothing at all when it fails
// or its context is cancelled. It checks the bases first (whole, of the
// spec's release), holds a lock on the output directory, never replaces an
// artifact unless asked to, and merges its manifest with an earlier build
// of the same appliance, version and config. Every output is hashed from
// the bytes as they are written and never read back; a disk target copies
// only the disk's head (GPT, ESP, boot partition) to embed the config and
// streams the rest from the base. Inspect reads the config back out of any
// output. What each platform, format and base is (and which writer and
// reader a format uses) is said once, in format.go's tables; WriteRaw,
// WriteQcow2, WriteISO and ConfigInitrd are the writers on their own.
//
// Where the config goes follows coreos-installer byte for byte: on disks,
// /ignition/config.ign on the ext4 partition labelled boot (plus the
// platform id on the BLS options line); on the live ISO and for PXE, an xz
// (CRC32) newc cpio holding config.ign. go-diskfs creates the file; the
// internal ext4 package then pins the timestamps it stamped and rewrites
// the BLS entry inside its own blocks, the two edits go-diskfs cannot make
// safely.
package images
