// Command kiln bakes immutable, fully configured Fedora CoreOS server
// images from one appliance spec.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kiln-dev/kiln/builder/spec"
)

// Exit codes, for scripts: the same meanings as most Unix tools, and the
// shell's 128+N for a process ended by signal N.
const (
	exitOK          = 0
	exitFailure     = 1 // a problem with the input or the build
	exitUsage       = 2 // unknown flag or command, wrong number of arguments
	exitInterrupted = 128
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run executes kiln with args and returns its exit code. Signals cancel the
// command's context (see watchSignals); main alone calls os.Exit.
func run(args []string, stderr io.Writer) int {
	ctx, sw := watchSignals(context.Background(), stderr)
	defer sw.stop()
	root := newRootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return exitStatus(cmd, err, stderr)
}

// exitStatus prints err (unless it was printed already) and maps it to
// the exit code scripts rely on.
func exitStatus(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var (
		inv   *spec.InvalidError
		usage *usageError
		intr  *interrupted
	)
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, "kiln:", err)
		if cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	case errors.As(err, &intr):
		fmt.Fprintln(stderr, "kiln:", err)
		return exitInterrupted + int(intr.sig)
	case errors.As(err, &inv), errors.Is(err, errDifferent):
		// Diagnostics were already printed; a difference found by
		// `diff --exit-code` needs no message.
		return exitFailure
	}
	fmt.Fprintln(stderr, "kiln:", err)
	return exitFailure
}

// usageError is a mistake on the command line itself (exit 2), as opposed
// to a problem with the spec or the build (exit 1).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// markUsageErrors makes every argument and flag error of the command tree a
// usageError. Cobra reports both as plain errors, which would exit 1 like
// a bad spec.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Args == nil && c.HasSubCommands() {
			// A group (kiln, kiln base) takes a subcommand, nothing else;
			// cobra would show help and exit 0 for `kiln base frobnicate`.
			c.Args = unknownSubcommand
			if c.Run == nil && c.RunE == nil {
				c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			}
		}
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					var u *usageError
					if errors.As(err, &u) {
						return err
					}
					return &usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set lazily
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usagef("%s", msg)
}
