//go:build tools

// Package tools pins the Go modules of the programs that judge kiln's output
// (Quadlet, the Ignition validator and the Ignition engine), so `go mod tidy`
// keeps them and `make tools` builds the same versions everywhere.
package tools

import (
	_ "github.com/containers/podman/v5/cmd/quadlet"
	_ "github.com/coreos/ignition/v2/internal"
	_ "github.com/coreos/ignition/v2/validate"
)
