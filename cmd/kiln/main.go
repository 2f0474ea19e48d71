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
		if !errors.As(err, &inv) { // diagnostics were already printed
			fmt.Fprintln(os.Stderr, "kiln:", err)
		}
		os.Exit(1)
	}
}
