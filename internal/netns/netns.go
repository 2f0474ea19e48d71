// Package netns helps tests that build small networks of their own in
// network namespaces (made with `ip netns add`): running code inside one
// and answering TCP connections there.
package netns

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Run runs fn on an OS thread moved into the named namespace. Sockets keep
// the namespace they were created in, so listeners and dialers made by fn
// work from any goroutine afterwards. The thread is never unlocked, so the
// runtime discards it instead of reusing it elsewhere.
func Run(t testing.TB, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Listen accepts TCP connections on addr inside ns and closes each at
// once: enough for a probe to see the handshake complete. The listener is
// closed when the test ends.
func Listen(t testing.TB, ns, addr string) {
	t.Helper()
	Run(t, ns, func() error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return nil
	})
}
