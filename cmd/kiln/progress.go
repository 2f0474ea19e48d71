package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress shows long work: one bar per artifact step on a terminal, one
// line per step otherwise (CI logs, pipes), never both.
type progress struct {
	mu   sync.Mutex
	out  io.Writer
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	seen map[string]bool
}

func newProgress(w io.Writer) *progress {
	pr := &progress{out: w, bars: map[string]*mpb.Bar{}, seen: map[string]bool{}}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	}
	return pr
}

// update records that key (an artifact and its step) has done of total
// bytes.
func (pr *progress) update(key string, done, total int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.p == nil {
		if !pr.seen[key] {
			pr.seen[key] = true
			fmt.Fprintf(pr.out, "kiln: %s\n", key)
		}
		return
	}
	b, ok := pr.bars[key]
	if !ok {
		b = pr.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(key, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Percentage(decor.WCSyncSpace)),
		)
		pr.bars[key] = b
	}
	if total > 0 {
		b.SetTotal(total, false)
	}
	b.SetCurrent(done)
	if total > 0 && done >= total {
		b.SetTotal(total, true)
	}
}

// wait finishes the bars (completing any left open, e.g. on error).
func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	for _, b := range pr.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	pr.mu.Unlock()
	pr.p.Wait()
}
