package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progressEvery is how often a step that is not a terminal's bar prints
// a line: often enough that a 90-second xz step in a CI log is visibly
// alive, rarely enough that the log stays readable.
const progressEvery = 5 * time.Second

// progress shows long work: one bar per artifact step on a terminal;
// otherwise (CI logs, pipes) one line per step when it starts, every
// progressEvery with the percent done and the rate (even when the step
// reports nothing new, as while xz works on one large block), and when it
// ends.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	p     *mpb.Progress
	bars  map[string]*mpb.Bar
	lines map[string]*progressLine
	// latest is the key updated last.
	latest string
	every  time.Duration
	now    func() time.Time
	stop   chan struct{}
	done   chan struct{}
}

// progressLine is what the line printer knows of one step.
type progressLine struct {
	start, last time.Time
	startDone   int64
	done, total int64
	finished    bool
}

func newProgress(w io.Writer) *progress {
	pr := newLineProgress(w)
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
		return pr
	}
	pr.stop, pr.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pr.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				pr.tick()
			case <-pr.stop:
				return
			}
		}
	}()
	return pr
}

// newLineProgress is the line printer without its ticker, which tests
// drive by hand.
func newLineProgress(w io.Writer) *progress {
	return &progress{out: w, bars: map[string]*mpb.Bar{}, lines: map[string]*progressLine{}, every: progressEvery, now: time.Now}
}

// tick repeats the line of the step updated last when it was not shown
// for pr.every: the step kiln is busy with, even when it reports nothing
// new. Steps left behind below 100% (the last bytes were a hole) are not
// repeated.
func (pr *progress) tick() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if l, ok := pr.lines[pr.latest]; ok && !l.finished && pr.now().Sub(l.last) >= pr.every {
		pr.print(pr.latest, l, pr.now())
	}
}

// line records key's progress and prints it when the step starts, ends,
// or has not been shown for pr.every.
func (pr *progress) line(key string, done, total int64) {
	now := pr.now()
	pr.latest = key
	l, ok := pr.lines[key]
	if !ok {
		l = &progressLine{start: now, last: now, startDone: done, done: done, total: total}
		pr.lines[key] = l
		if total > 0 {
			fmt.Fprintf(pr.out, "kiln: %s: 0%% of %s\n", key, humanBytes(total))
		} else {
			fmt.Fprintf(pr.out, "kiln: %s\n", key)
		}
		return
	}
	if l.finished {
		return
	}
	l.done, l.total = done, total
	if end := total > 0 && done >= total; end || now.Sub(l.last) >= pr.every {
		pr.print(key, l, now)
	}
}

func (pr *progress) print(key string, l *progressLine, now time.Time) {
	l.last = now
	elapsed := now.Sub(l.start)
	rate := ""
	if secs := elapsed.Seconds(); secs > 0 {
		rate = ", " + humanBytes(int64(float64(l.done-l.startDone)/secs)) + "/s"
	}
	switch {
	case l.total > 0 && l.done >= l.total:
		l.finished = true
		fmt.Fprintf(pr.out, "kiln: %s: 100%% (%s in %s%s)\n", key, humanBytes(l.total), elapsed.Round(time.Second), rate)
	case l.total > 0:
		fmt.Fprintf(pr.out, "kiln: %s: %d%% (%s of %s%s)\n", key, l.done*100/l.total, humanBytes(l.done), humanBytes(l.total), rate)
	default:
		fmt.Fprintf(pr.out, "kiln: %s: %s%s\n", key, humanBytes(l.done), rate)
	}
}

// update records that key (an artifact and its step) has done of total
// bytes.
func (pr *progress) update(key string, done, total int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.p == nil {
		pr.line(key, done, total)
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

// wait finishes the bars (completing any left open, e.g. on error) or
// stops the line printer.
func (pr *progress) wait() {
	if pr.p == nil {
		if pr.stop != nil {
			close(pr.stop)
			<-pr.done
		}
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
