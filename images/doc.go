// Package images turns a rendered Ignition config into Fedora CoreOS
// artifacts: raw, qcow2 and vhd disks, live ISOs and PXE bundles, plus the
// base artifacts they start from.
package images
