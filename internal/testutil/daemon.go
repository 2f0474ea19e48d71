package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls check until it succeeds, failing the test with its last
// error once timeout has passed.
func WaitFor(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Daemon is a server program a test started (sshd, nginx, redis…).
type Daemon struct {
	name string
	log  lockedBuilder
	done chan struct{}
	err  error
}

// lockedBuilder collects a program's output while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartDaemon starts cmd, collecting its standard output and error, and
// stops it when the test ends: with stop (the program's own signal for a
// clean shutdown), then SIGKILL after five seconds. Its output is logged
// when the test failed.
func StartDaemon(t testing.TB, cmd *exec.Cmd, stop os.Signal) *Daemon {
	t.Helper()
	d := &Daemon{name: cmd.Path, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &d.log, &d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(stop)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", d.name, d.log.String())
		}
	})
	return d
}

// Output is what the daemon printed so far.
func (d *Daemon) Output() string { return d.log.String() }

// Exited reports whether the daemon has exited, and how.
func (d *Daemon) Exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// WaitListening waits until addr accepts TCP connections. It fails the
// test when the daemon exits first or timeout passes, with its output and
// what more (an error log it writes elsewhere) says.
func (d *Daemon) WaitListening(t testing.TB, addr string, timeout time.Duration, more func() string) {
	t.Helper()
	extra := func() string {
		if more == nil {
			return ""
		}
		return more()
	}
	for deadline := time.Now().Add(timeout); ; {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if exited, err := d.Exited(); exited {
			t.Fatalf("%s exited: %v\n%s%s", d.name, err, d.Output(), extra())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s:\n%s%s", d.name, addr, d.Output(), extra())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StatusOK turns an HTTP call's result into an error unless it answered
// 200, for WaitFor: testutil.WaitFor(t, "ready", d, func() error {
// return testutil.StatusOK(http.Get(url)) }).
func StatusOK(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", resp.Request.Method, resp.Request.URL, resp.StatusCode)
	}
	return nil
}

// SharedDir makes a scratch directory that another user (the postgres
// account the servers run as) can enter: t.TempDir's parents are private
// to root. It is removed when the test ends.
func SharedDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// String is the daemon's output, for failure messages.
func (d *Daemon) String() string { return d.Output() }
