package bootcheck

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// fakeGuest answers Check's commands from a script: each command maps to
// the answers of its successive calls (the last one repeats).
type fakeGuest struct {
	answers map[string][]answer
	calls   map[string]int
}

type answer struct {
	out string
	err error
}

func (g *fakeGuest) Run(cmd string) (string, error) {
	as, ok := g.answers[cmd]
	if !ok {
		return "", errors.New("fake guest: unexpected command " + cmd)
	}
	i := min(g.calls[cmd], len(as)-1)
	g.calls[cmd]++
	return as[i].out, as[i].err
}

// guest is a healthy two-service appliance: redis (with a health check)
// and frontend (without).
func guest() *fakeGuest {
	return &fakeGuest{calls: map[string]int{}, answers: map[string][]answer{
		listContainers: {{out: "frontend 0\nredis 1\n"}},
		stateCommand([]string{"frontend.service", "redis.service"}): {{
			out: "active\nactive\n==\n0\n0\n==\nfrontend\tUp 3 minutes\nredis\tUp 3 minutes (healthy)\n",
		}},
		listFailed:  {{out: ""}},
		readRelease: {{out: `{"name": "bootcheck", "version": "0.1.0", "config_digest": "sha256:abc"}`}},
	}}
}

var (
	state    = stateCommand([]string{"frontend.service", "redis.service"})
	ports    = []Port{{Port: 22, Owner: "sshd", Public: true}, {Port: 6379, Owner: "redis"}, {Port: 8081, Owner: "frontend", Public: true}}
	expected = []Expect{
		{Field: "name", Want: "bootcheck", From: "manifest.json appliance"},
		{Field: "version", Want: "0.1.0", From: "manifest.json version"},
		{Field: "config_digest", Want: "sha256:abc", From: "the config built into bootcheck-0.1.0-metal.raw"},
	}
)

// probeAs answers like a guest on which exactly the given ports answer.
func probeAs(open ...int) func(context.Context, Port) bool {
	return func(_ context.Context, p Port) bool {
		for _, o := range open {
			if o == p.Port {
				return true
			}
		}
		return false
	}
}

func options() Options {
	return Options{Ports: ports, Probe: probeAs(22, 8081), Release: expected, Poll: time.Millisecond, SettleBy: time.Now().Add(5 * time.Second)}
}

func TestCheckHealthyAppliance(t *testing.T) {
	r, err := Check(context.Background(), guest(), options())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Problems) != 0 {
		t.Fatalf("a healthy appliance fails: %q", r.Problems)
	}
	if len(r.Services) != 2 || r.Services[1].Name != "redis" || r.Services[1].Health != "healthy" || !r.Services[1].HealthCheck {
		t.Errorf("services = %+v", r.Services)
	}
	if len(r.Ports) != 3 || !r.Ports[0].Answers || r.Ports[1].Answers {
		t.Errorf("ports = %+v", r.Ports)
	}
}

// TestCheckFindsEachProblem breaks one thing at a time and wants exactly
// one problem naming it.
func TestCheckFindsEachProblem(t *testing.T) {
	for name, tc := range map[string]struct {
		break_ func(g *fakeGuest, o *Options)
		want   string
	}{
		"unhealthy service": {func(g *fakeGuest, o *Options) {
			g.answers[state] = []answer{{out: "active\nactivating\n==\n0\n3\n==\nfrontend\tUp 3 minutes\nredis\tUp 2 seconds (unhealthy)\n"}}
		}, "service redis is not healthy: unit activating, container \"Up 2 seconds (unhealthy)\", 3 restarts"},
		"container missing": {func(g *fakeGuest, o *Options) {
			g.answers[state] = []answer{{out: "active\nfailed\n==\n0\n0\n==\nfrontend\tUp 3 minutes\n"}}
		}, "service redis is not healthy: unit failed"},
		"health check still starting at the bound": {func(g *fakeGuest, o *Options) {
			g.answers[state] = []answer{{out: "active\nactive\n==\n0\n0\n==\nfrontend\tUp 3 minutes\nredis\tUp 3 minutes (starting)\n"}}
			o.SettleBy = time.Now()
		}, "service redis is not healthy"},
		"failed unit": {func(g *fakeGuest, o *Options) {
			// A failed health-check unit is the service's verdict, not
			// a failed unit of its own.
			g.answers[listFailed] = []answer{{out: strings.Repeat("ab", 32) + "-1f2e3d4c5b6a7988.service\nkiln-firewall.service\n"}}
		}, "unit kiln-firewall.service failed"},
		"private port answers": {func(g *fakeGuest, o *Options) {
			o.Probe = probeAs(22, 6379, 8081)
		}, "port 6379 (redis) answers from outside; only the spec's public ports should"},
		"public port silent": {func(g *fakeGuest, o *Options) {
			o.Probe = probeAs(22)
		}, "public port 8081 (frontend) does not answer from outside"},
		"release of another build": {func(g *fakeGuest, o *Options) {
			g.answers[readRelease] = []answer{{out: `{"name": "bootcheck", "version": "0.0.9", "config_digest": "sha256:abc"}`}}
		}, `/etc/kiln/release.json: version is "0.0.9", want "0.1.0" (manifest.json version)`},
		"release file missing": {func(g *fakeGuest, o *Options) {
			g.answers[readRelease] = []answer{{err: errors.New("cat: /etc/kiln/release.json: No such file or directory")}}
		}, "/etc/kiln/release.json: name is \"(unreadable: cat: /etc/kiln/release.json: No such file"},
		"no container at all": {func(g *fakeGuest, o *Options) {
			g.answers[listContainers] = []answer{{out: ""}}
		}, "no Quadlet container in /etc/containers/systemd"},
	} {
		t.Run(name, func(t *testing.T) {
			g, o := guest(), options()
			tc.break_(g, &o)
			r, err := Check(context.Background(), g, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK {
				t.Fatal("the report says ok")
			}
			found := false
			for _, p := range r.Problems {
				found = found || strings.Contains(p, tc.want)
			}
			if !found {
				t.Errorf("no problem says %q; problems: %q", tc.want, r.Problems)
			}
			if name != "release file missing" && len(r.Problems) != 1 {
				t.Errorf("want one problem, got %q", r.Problems)
			}
		})
	}
}

// TestCheckWaitsForHealth: a health check that is still starting is waited
// for, with a progress line, until it passes.
func TestCheckWaitsForHealth(t *testing.T) {
	g := guest()
	g.answers[state] = []answer{
		{out: "active\nactivating\n==\n0\n0\n==\nfrontend\tUp 3 seconds\n"},
		{out: "active\nactive\n==\n0\n0\n==\nfrontend\tUp 13 seconds\nredis\tUp 10 seconds (starting)\n"},
		{out: "active\nactive\n==\n0\n0\n==\nfrontend\tUp 23 seconds\nredis\tUp 20 seconds (healthy)\n"},
	}
	var lines []string
	o := options()
	o.Log = func(s string) { lines = append(lines, s) }
	r, err := Check(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("problems: %q", r.Problems)
	}
	if g.calls[state] != 3 || len(lines) != 2 || !strings.Contains(lines[1], "redis (active, Up 10 seconds (starting))") {
		t.Errorf("%d looks, progress %q", g.calls[state], lines)
	}
}

// TestCheckGivesUpOnHopelessService: a unit systemd keeps restarting is
// not waited for until the bound.
func TestCheckGivesUpOnHopelessService(t *testing.T) {
	g := guest()
	g.answers[state] = []answer{{out: "active\nactivating\n==\n0\n4\n==\nfrontend\tUp 3 minutes\nredis\tExited (1) 2 seconds ago\n"}}
	o := options()
	o.SettleBy = time.Now().Add(2 * time.Second)
	r, err := Check(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || g.calls[state] != 1 {
		t.Errorf("ok %v after %d looks", r.OK, g.calls[state])
	}
}

// TestCheckNeedsSudo: podman's state is root's; a user without sudo gets
// an error that says so instead of an empty service list.
func TestCheckNeedsSudo(t *testing.T) {
	g := guest()
	g.answers[state] = []answer{{out: "active\nactive\n==\n0\n0\n==\n", err: errors.New("sudo: a password is required")}}
	_, err := Check(context.Background(), g, options())
	if err == nil || !strings.Contains(err.Error(), "sudo: true") {
		t.Errorf("err = %v", err)
	}
}

// TestReportJSON pins the shape of `kiln test-boot --json` (documented in
// its --help and the README): fields may be added, never renamed.
func TestReportJSON(t *testing.T) {
	g := guest()
	g.answers[listFailed] = []answer{{out: "kiln-backup-daily.service\n"}}
	r, err := Check(context.Background(), g, options())
	if err != nil {
		t.Fatal(err)
	}
	r.Artifact, r.Accel, r.SerialLog = "out/bootcheck-0.1.0-metal.raw", "tcg", "/tmp/kiln-test-boot-1/serial.log"
	r.Times = Times{SSHLogin: 312.5, Settled: 401.2}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/report.json", append(b, '\n'))
}

// TestPortsFromSpec: sshd's port and every published port, public or not,
// except one that firewall.allow opens to chosen sources.
func TestPortsFromSpec(t *testing.T) {
	app := &spec.Appliance{
		SSH:      spec.SSH{Port: 2222},
		Firewall: spec.Firewall{Allow: []spec.AllowRule{{Port: 9090, From: []string{"192.0.2.0/24"}}}},
		Services: []spec.Service{
			{Name: "edge", Ports: []spec.Port{{Port: 80, Public: true}, {Port: 443, Public: true}}},
			{Name: "redis", Ports: []spec.Port{{Port: 6379}}},
			{Name: "prometheus", Ports: []spec.Port{{Port: 9090}}},
		},
	}
	got := Ports(app)
	want := []Port{{2222, "sshd", true}, {80, "edge", true}, {443, "edge", true}, {6379, "redis", false}}
	if !slices.Equal(got, want) {
		t.Errorf("Ports = %v, want %v", got, want)
	}
}
