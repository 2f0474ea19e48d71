package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressLines: off a terminal, a step prints when it starts, then at
// most every few seconds with percent and rate, and once when done.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	real := newProgress(&out)
	real.wait()
	if real.p != nil {
		t.Fatal("a buffer is not a terminal: no bars")
	}
	pr := newLineProgress(&out)
	clock := time.Unix(1700000000, 0)
	pr.now = func() time.Time { return clock }
	const mib = 1 << 20
	key := "clipper-1.0.0-hetzner.raw.xz write"
	pr.update(key, 0, 1000*mib)
	for i := int64(1); i <= 20; i++ { // 20 updates, one a second, 10 MiB/s
		clock = clock.Add(time.Second)
		pr.update(key, i*10*mib, 1000*mib)
	}
	clock = clock.Add(time.Second)
	pr.update(key, 1000*mib, 1000*mib)
	pr.update(key, 1000*mib, 1000*mib)  // a repeated end prints nothing
	pr.update("resolve base", 5*mib, 0) // unknown total
	clock = clock.Add(6 * time.Second)
	pr.update("resolve base", 35*mib, 0)
	// A step that reports nothing new still gets its line every few
	// seconds, so a long xz block does not look like a hang.
	pr.update("embed", 0, 100*mib)
	pr.update("embed", 10*mib, 100*mib)
	clock = clock.Add(3 * time.Second)
	pr.tick()
	clock = clock.Add(3 * time.Second)
	pr.tick()
	pr.wait()

	want := []string{
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 0% of 1000.0 MiB",
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 5% (50.0 MiB of 1000.0 MiB, 10.0 MiB/s)",
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 10% (100.0 MiB of 1000.0 MiB, 10.0 MiB/s)",
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 15% (150.0 MiB of 1000.0 MiB, 10.0 MiB/s)",
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 20% (200.0 MiB of 1000.0 MiB, 10.0 MiB/s)",
		"kiln: clipper-1.0.0-hetzner.raw.xz write: 100% (1000.0 MiB in 21s, 47.6 MiB/s)",
		"kiln: resolve base",
		"kiln: resolve base: 35.0 MiB, 5.0 MiB/s",
		"kiln: embed: 0% of 100.0 MiB",
		"kiln: embed: 10% (10.0 MiB of 100.0 MiB, 1.7 MiB/s)",
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress lines:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
}
