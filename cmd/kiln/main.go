// Command kiln bakes immutable, fully configured Fedora CoreOS server
// images from one appliance spec.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/kiln-dev/kiln/builder/spec"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var inv *spec.InvalidError
		// Diagnostics were already printed; a difference found by
		// `diff --exit-code` needs no message.
		if !errors.As(err, &inv) && !errors.Is(err, errDifferent) {
			fmt.Fprintln(os.Stderr, "kiln:", err)
		}
		os.Exit(1)
	}
}
