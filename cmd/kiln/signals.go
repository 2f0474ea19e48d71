package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// interrupted is the cause of a context cancelled by a signal. Its exit
// code is the shell's 128+N: 130 for SIGINT, 143 for SIGTERM.
type interrupted struct{ sig syscall.Signal }

func (e *interrupted) Error() string {
	name := "SIGTERM"
	if e.sig == syscall.SIGINT {
		name = "SIGINT"
	}
	return "interrupted (" + name + ")"
}

// signalWatch turns the first SIGINT or SIGTERM into a cancelled context.
// A command that removes its partial outputs when cancelled says so with
// interruptible; until then a signal ends kiln at once, since there is
// nothing to clean up and a command blocked on, say, standard input would
// otherwise never notice.
type signalWatch struct {
	ch       chan os.Signal
	done     chan struct{}
	cleansUp atomic.Bool
}

type signalWatchKey struct{}

func watchSignals(parent context.Context, stderr io.Writer) (context.Context, *signalWatch) {
	ctx, cancel := context.WithCancelCause(parent)
	sw := &signalWatch{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	ctx = context.WithValue(ctx, signalWatchKey{}, sw)
	signal.Notify(sw.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		var s os.Signal
		select {
		case s = <-sw.ch:
		case <-sw.done:
			return
		}
		// A second signal takes the default action and ends kiln at
		// once, for a user who will not wait for the clean-up.
		signal.Stop(sw.ch)
		sig, _ := s.(syscall.Signal)
		cause := &interrupted{sig: sig}
		if !sw.cleansUp.Load() {
			fmt.Fprintln(stderr, "kiln:", cause)
			os.Exit(exitInterrupted + int(sig))
		}
		fmt.Fprintf(stderr, "kiln: %s; removing partial outputs (signal again to stop at once)\n", cause)
		cancel(cause)
	}()
	return ctx, sw
}

func (sw *signalWatch) stop() {
	signal.Stop(sw.ch)
	close(sw.done)
}

// interruptible marks the running command as one that removes its partial
// outputs when ctx is cancelled, and returns ctx: from now on SIGINT and
// SIGTERM cancel it (the command then returns an error wrapping
// context.Cause, which sets the exit code) instead of ending kiln.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	if sw, ok := ctx.Value(signalWatchKey{}).(*signalWatch); ok {
		sw.cleansUp.Store(true)
		return context.WithCancel(ctx)
	}
	// Called outside run (not by kiln's own main): handle signals here.
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// interruptedErr explains an error that ended a cancelled command: the
// signal (whose exit code main uses) and that nothing was left behind.
func interruptedErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if _, ok := cause.(*interrupted); ok {
			return fmt.Errorf("%w; no output was written", cause)
		}
	}
	return err
}
