package testos_test

// How the VM test (boot_test.go, build tag vmtest) decides from repeated
// probes whether a port answers and whether Prometheus's targets are up,
// and from the serial console whether the kernel oopsed, kept apart from
// the boot so that `go test ./testos/` checks the decisions without a VM.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// probeTries is how often a port is tried. Under TCG on a busy host one
// probe can miss a port that answers (sshd forks a session per connection,
// a busy guest answers a SYN late): a port answers when any of a few
// attempts does. The same rule makes a port that must stay closed fail on
// the first attempt that answers, so retrying can only find an open port,
// never hide one.
const probeTries = 3

// portAnswers makes up to tries attempts and says whether any of them
// answered; it stops at the first answer. An attempt that cannot say
// (err != nil: the probe itself failed) ends the probing with that error
// rather than count as "closed".
func portAnswers(tries int, attempt func() (bool, error)) (bool, error) {
	for range tries {
		ok, err := attempt()
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// probePorts runs probe for every port with at most workers at a time (the
// guest, not the host, is the bottleneck: all ports at once made it miss
// some) and returns whether each answered, by port number.
func probePorts(ports []int, workers int, probe func(port int) (bool, error)) (map[int]bool, error) {
	var (
		mu    sync.Mutex
		open  = map[int]bool{}
		errs  []string
		wg    sync.WaitGroup
		queue = make(chan int)
	)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				ok, err := probe(p)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("port %d: %v", p, err))
				}
				open[p] = ok
				mu.Unlock()
			}
		}()
	}
	for _, p := range ports {
		queue <- p
	}
	close(queue)
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		return open, fmt.Errorf("probing failed: %s", strings.Join(errs, "; "))
	}
	return open, nil
}

// promTarget is one active target of Prometheus's targets API.
type promTarget struct {
	Labels             map[string]string `json:"labels"`
	ScrapeURL          string            `json:"scrapeUrl"`
	Health             string            `json:"health"`
	LastError          string            `json:"lastError"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
}

// key names a target as the up series does: by job and instance.
func (t promTarget) key() string { return t.Labels["job"] + "/" + t.Labels["instance"] }

// promSample is one series of an instant query's vector result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// upWindow is the range over which each target must have been up at least
// once. Under TCG the node exporter's scrape takes 7-12 s against the 10 s
// scrape timeout, so up flaps between 0 and 1 for a target that works; on a
// real host it answers in milliseconds. Asking for up == 1 at one instant
// fails on a flap, asking for "some target is up" hides a dead one: every
// target up at least once in the last few scrape intervals (15 s each) is
// what separates a slow target from a broken one.
const upWindow = "3m"

// targetsNotUp returns the targets whose max_over_time(up[upWindow]) is not
// 1 (a target missing from the query's result has not been up either),
// leaving out those skip says cannot run here.
func targetsNotUp(targets []promTarget, maxUp []promSample, skip func(promTarget) bool) []promTarget {
	up := map[string]bool{}
	for _, s := range maxUp {
		v, _ := s.Value[1].(string)
		if v == "1" {
			up[s.Metric["job"]+"/"+s.Metric["instance"]] = true
		}
	}
	var out []promTarget
	for _, t := range targets {
		if !up[t.key()] && !skip(t) {
			out = append(out, t)
		}
	}
	return out
}

// kernelOops returns the lines around the first oops, BUG or panic in a
// serial console log, or "". The soft lockup detector's "watchdog: BUG:
// soft lockup" is not one: under TCG on a loaded host a vCPU thread can get
// no host CPU for tens of seconds (seen: 23 s in udev while the host's load
// was 4.5), which says nothing of the kernel or of kiln. A lockup that
// panics the kernel still counts, by its "Kernel panic" line.
func kernelOops(log string) string {
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if strings.Contains(l, "BUG: soft lockup") {
			continue
		}
		if strings.Contains(l, "Oops:") || strings.Contains(l, "Kernel panic") || strings.Contains(l, "BUG: ") {
			return strings.Join(lines[max(0, i-3):min(len(lines), i+40)], "\n")
		}
	}
	return ""
}

// healthyStall and healthyCap bound the wait for healthy services past
// its deadline: it goes on while the services that are not yet healthy
// still change state (a unit started, a container passed its check) and
// stops once nothing changed for healthyStall, or at healthyCap past the
// deadline. On a loaded host every service of a boot came up 27 minutes in,
// a minute after a fixed bound had given up on the ones still starting in
// dependency order (backend after pgbouncer after PostgreSQL's initdb).
const (
	healthyStall = 6 * time.Minute
	healthyCap   = 10 * time.Minute
)

// keepWaiting says whether the wait for healthy services goes on at now,
// given its deadline and when the set of services still waited for last
// changed.
func keepWaiting(now, deadline, lastChange time.Time) bool {
	if now.Before(deadline) {
		return true
	}
	return now.Before(deadline.Add(healthyCap)) && now.Sub(lastChange) < healthyStall
}

func TestKeepWaiting(t *testing.T) {
	d := time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name            string
		now, lastChange time.Duration // from the deadline
		want            bool
	}{
		{"before the deadline, however still", -time.Minute, -time.Hour, true},
		{"past it, a service just moved", time.Minute, 0, true},
		{"past it, stalled", 7 * time.Minute, 0, false},
		{"past the cap, still moving", 11 * time.Minute, 10 * time.Minute, false},
	} {
		if got := keepWaiting(d.Add(tc.now), d, d.Add(tc.lastChange)); got != tc.want {
			t.Errorf("%s: keepWaiting = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// bootAgain says whether a boot that never answered SSH is tried again:
// up to panicBoots boots in all, and only when the guest's kernel panicked
// (oops is kernelOops of its console). A boot that hung or an appliance
// that never opened SSH is not retried.
func bootAgain(attempt int, oops string) bool {
	return attempt < panicBoots && strings.Contains(oops, "Kernel panic")
}

// panicBoots is how many times a boot whose guest kernel panicked before
// SSH is tried in all. The panics seen were the CI machine's alone (two
// runs, one boot in each, none in dozens of boots here), so a boot that
// panics three times running is taken as a real failure.
const panicBoots = 3

// oopsSummary is the few lines of an oops that say what failed (the first
// report, the faulting instruction, the panic, the functions of the first
// call trace), for the last lines of a failure's message, which are what a
// CI log's excerpt keeps.
func oopsSummary(oops string) string {
	var out []string
	trace := -1
	for _, l := range strings.Split(oops, "\n") {
		switch {
		case strings.Contains(l, "Oops:") || strings.Contains(l, "BUG: ") || strings.Contains(l, "Kernel panic") ||
			strings.Contains(l, "RIP: ") || strings.Contains(l, "Comm: "):
			out = append(out, strings.TrimSpace(l))
		case strings.Contains(l, "Call Trace:") && trace < 0:
			trace = 0
			out = append(out, strings.TrimSpace(l))
		case trace >= 0 && trace < 8 && strings.Contains(l, "+0x"):
			trace++
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

func TestBootAgain(t *testing.T) {
	panicked := kernelOops("[  115.0] BUG: unable to handle page fault\n[  115.1] Kernel panic - not syncing: Fatal exception in interrupt\n")
	oopsed := kernelOops("[  115.0] Oops: general protection fault\n[  115.1] RIP: 0010:foo\n")
	for _, tc := range []struct {
		attempt int
		oops    string
		want    bool
	}{
		{1, panicked, true},
		{2, panicked, true},
		{panicBoots, panicked, false}, // the last boot's panic fails
		{1, oopsed, false},            // the guest lived on: not the emulator's crash
		{1, "", false},                // a hang or a closed SSH port is the appliance's
	} {
		if got := bootAgain(tc.attempt, tc.oops); got != tc.want {
			t.Errorf("bootAgain(%d, %q) = %v, want %v", tc.attempt, tc.oops, got, tc.want)
		}
	}
}

func TestKernelOops(t *testing.T) {
	lockup := "[  140.865205] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [(udev-worker):644]\n[  140.868438] RIP: 0010:clear_page_erms+0xb/0x20\n[  140.869788] Call Trace:\n"
	if got := kernelOops("[    1.0] Linux version 6.12\n" + lockup + "[  150.0] systemd[1]: Started foo.\n"); got != "" {
		t.Errorf("a soft lockup under emulation counted as an oops:\n%s", got)
	}
	for _, l := range []string{
		"[   12.3] BUG: kernel NULL pointer dereference, address: 0000000000000008",
		"[   12.4] Oops: general protection fault, probably for non-canonical address",
		"[  200.0] Kernel panic - not syncing: softlockup: hung tasks",
	} {
		if got := kernelOops(lockup + l + "\n"); !strings.Contains(got, l) {
			t.Errorf("%q not reported: %q", l, got)
		}
	}
}

func TestPortAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts []bool
		want     bool
		tries    int // attempts made
	}{
		// A public port that the busy guest misses once answers on the
		// next attempt (the single-shot probe failed the run here).
		{"answers late", []bool{false, true}, true, 2},
		{"answers at once", []bool{true}, true, 1},
		// A port that must stay closed is tried every time, and one
		// answer among them is an open port.
		{"never answers", []bool{false, false, false}, false, 3},
		{"answers once among closed", []bool{false, false, true}, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			got, err := portAnswers(probeTries, func() (bool, error) {
				ok := tc.attempts[n]
				n++
				return ok, nil
			})
			if err != nil || got != tc.want || n != tc.tries {
				t.Errorf("portAnswers = %v, %v after %d attempts; want %v after %d", got, err, n, tc.want, tc.tries)
			}
		})
	}
	// A probe that fails is not a closed port.
	if _, err := portAnswers(probeTries, func() (bool, error) { return false, fmt.Errorf("ssh: broken pipe") }); err == nil {
		t.Error("a failing probe counted as an answer or as closed")
	}
}

func TestProbePorts(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	open, err := probePorts([]int{22, 80, 443, 5432, 6379, 9090}, 2, func(p int) (bool, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return p == 22 || p == 80 || p == 443, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most > 2 {
		t.Errorf("%d probes ran at once, want at most 2", most)
	}
	for p, want := range map[int]bool{22: true, 80: true, 443: true, 5432: false, 6379: false, 9090: false} {
		if open[p] != want {
			t.Errorf("port %d: open %v, want %v", p, open[p], want)
		}
	}
	if _, err := probePorts([]int{1}, 1, func(int) (bool, error) { return false, fmt.Errorf("boom") }); err == nil || !strings.Contains(err.Error(), "port 1: boom") {
		t.Errorf("a failed probe: err %v", err)
	}
}

func TestTargetsNotUp(t *testing.T) {
	target := func(job, instance string) promTarget {
		return promTarget{Labels: map[string]string{"job": job, "instance": instance}}
	}
	sample := func(job, instance, v string) promSample {
		return promSample{Metric: map[string]string{"job": job, "instance": instance}, Value: [2]any{1.7e9, v}}
	}
	targets := []promTarget{target("node", "10.89.10.1:9100"), target("backend", "backend:8080"), target("loki", "loki:3100"), target("grafana", "grafana:3000")}
	maxUp := []promSample{
		sample("node", "10.89.10.1:9100", "1"), // flapped, but up within the window
		sample("backend", "backend:8080", "0"), // never up in the window
		// loki: no series at all
		sample("grafana", "grafana:3000", "1"),
	}
	got := targetsNotUp(targets, maxUp, func(t promTarget) bool { return false })
	var keys []string
	for _, t := range got {
		keys = append(keys, t.key())
	}
	if want := "backend/backend:8080 loki/loki:3100"; strings.Join(keys, " ") != want {
		t.Errorf("not up: %q, want %q", keys, want)
	}
	got = targetsNotUp(targets, maxUp, func(t promTarget) bool { return t.Labels["job"] == "loki" })
	if len(got) != 1 || got[0].key() != "backend/backend:8080" {
		t.Errorf("with loki skipped: %v", got)
	}
	if got := targetsNotUp(targets, nil, func(promTarget) bool { return false }); len(got) != len(targets) {
		t.Errorf("no series: %d not up, want all %d", len(got), len(targets))
	}
}

func TestOopsSummary(t *testing.T) {
	oops := `[    8.2] BUG: unable to handle page fault for address: ffff8c3bfffff000
[    8.2] #PF: supervisor read access in kernel mode
[    8.2] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.117+deb13-amd64 #1
[    8.2] RIP: 0010:memcpy_orig+0x31/0x140
[    8.2] RSP: 0018:ffffb58e00003e10 EFLAGS: 00010206
[    8.2] Call Trace:
[    8.2]  <IRQ>
[    8.2]  ? __die+0x23/0x70
[    8.2]  ? page_fault_oops+0x171/0x4e0
[    8.2]  a+0x1/0x2
[    8.2]  b+0x1/0x2
[    8.2]  c+0x1/0x2
[    8.2]  d+0x1/0x2
[    8.2]  e+0x1/0x2
[    8.2]  f+0x1/0x2
[    8.2]  g+0x1/0x2
[    8.2] R10: 0000000000000000 R11: 0000000000000001
[    8.3] Kernel panic - not syncing: Fatal exception in interrupt`
	got := strings.Split(oopsSummary(oops), "\n")
	for _, want := range []string{"BUG: unable to handle page fault", "Comm: swapper/0", "RIP: 0010:memcpy_orig", "Call Trace:", "__die+0x23", "f+0x1", "Kernel panic"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("summary lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if s := strings.Join(got, "\n"); strings.Contains(s, "g+0x1") || strings.Contains(s, "RSP:") || strings.Contains(s, "R10:") {
		t.Errorf("summary is longer than the first 8 trace lines and the key lines:\n%s", s)
	}
}
