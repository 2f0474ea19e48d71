// Package bootcheck judges a booted kiln appliance from outside, as an
// operator would before a rollout: every Quadlet service active and healthy,
// no failed unit, only the spec's public ports answering from the host, and
// /etc/kiln/release.json naming the build that was booted.
//
// Check works on any Guest (something that runs a shell command on the
// booted machine), so it is tested against a fake one; Boot starts the
// machine in QEMU on a scratch overlay of the artifact, logs in over SSH and
// calls Check. `kiln test-boot` is Boot with flags.
package bootcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Guest runs a shell command on the booted machine and returns its
// standard output. A command that exits non-zero returns an error (its
// output may still be returned). *vm.Client is one.
type Guest interface {
	Run(cmd string) (string, error)
}

// Port is one TCP port of the appliance: sshd's or one a service publishes
// on the host. Public ports must answer from outside; every other listed
// port must not.
type Port struct {
	// Port is the port on the server.
	Port int
	// Owner is the service that listens on it, "sshd" for SSH.
	Owner string
	// Public says the spec opens it to the internet.
	Public bool
}

// Expect is one field of /etc/kiln/release.json and the value the build
// says it must have.
type Expect struct {
	// Field is the key in release.json ("name", "version",
	// "config_digest").
	Field string
	// Want is the value it must have.
	Want string
	// From names where Want comes from, for the report
	// ("manifest.json appliance").
	From string
}

// Options says what Check expects of the guest.
type Options struct {
	// Ports are probed from the host through Probe.
	Ports []Port
	// Probe reports whether something answers on the server's port, from
	// outside. Nil skips the port checks.
	Probe func(ctx context.Context, p Port) bool
	// Release lists the fields release.json must carry.
	Release []Expect
	// SettleBy bounds the wait for services to become active and
	// healthy; the zero time waits not at all.
	SettleBy time.Time
	// Poll is the time between two looks at the services (default 10 s:
	// each look costs the guest seconds of emulated CPU under TCG).
	Poll time.Duration
	// Log receives progress lines while Check waits (nil: none).
	Log func(string)
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Report is what a boot check found. Its JSON form is `kiln test-boot
// --json`'s output; fields are only ever added to it.
type Report struct {
	// Artifact is the image that was booted.
	Artifact string `json:"artifact"`
	// OK is true when every check passed (Problems is empty).
	OK bool `json:"ok"`
	// Accel is the QEMU accelerator the machine ran with (kvm, tcg).
	Accel string `json:"accel,omitempty"`
	// SerialLog is the file that holds the guest's serial console.
	SerialLog string `json:"serial_log,omitempty"`
	// Times are measured from power-on.
	Times Times `json:"times"`
	// Services lists every Quadlet container of the appliance.
	Services []Service `json:"services"`
	// FailedUnits are the systemd units left failed (or restarting),
	// other than Podman's transient health-check units, whose verdict is
	// the service's health.
	FailedUnits []string `json:"failed_units"`
	// Ports are the spec's ports as seen from the host.
	Ports []PortResult `json:"ports"`
	// Release compares /etc/kiln/release.json with the build.
	Release ReleaseResult `json:"release"`
	// Problems has one line per failed check, for people.
	Problems []string `json:"problems"`
}

// Times are durations from power-on, in seconds (0 when not reached).
type Times struct {
	// SSHLogin is power-on to the first SSH login (first boot, Ignition
	// included).
	SSHLogin float64 `json:"ssh_login_seconds"`
	// Settled is power-on to every service healthy, or to when Check
	// stopped waiting.
	Settled float64 `json:"settled_seconds"`
}

// Service is the state of one Quadlet container.
type Service struct {
	// Name is the container's and the unit's name (without .service).
	Name string `json:"name"`
	// Active is systemd's ActiveState of the unit (active, failed…).
	Active string `json:"active"`
	// Status is podman's status column ("Up 2 minutes (healthy)"), ""
	// when there is no container.
	Status string `json:"status"`
	// HealthCheck says whether the container has a health check.
	HealthCheck bool `json:"health_check"`
	// Health is healthy, unhealthy, starting, or "" without a check.
	Health string `json:"health"`
	// Restarts counts systemd's automatic restarts of the unit.
	Restarts int `json:"restarts"`
	// OK: the unit is active and, with a health check, healthy.
	OK bool `json:"ok"`
}

// PortResult is one port probed from the host.
type PortResult struct {
	Port   int    `json:"port"`
	Owner  string `json:"owner"`
	Public bool   `json:"public"`
	// Answers says whether it answered from outside.
	Answers bool `json:"answers"`
	// OK: a public port answers, any other does not.
	OK bool `json:"ok"`
}

// ReleaseResult compares release.json with the build.
type ReleaseResult struct {
	// Fields has one row per expected field.
	Fields []FieldResult `json:"fields"`
	// OK: every field has its expected value.
	OK bool `json:"ok"`
}

// FieldResult is one field of release.json.
type FieldResult struct {
	Field string `json:"field"`
	Want  string `json:"want"`
	Got   string `json:"got"`
	From  string `json:"from"`
	OK    bool   `json:"ok"`
}

// The commands Check runs on the guest. Each is one round trip: a podman
// call costs seconds of emulated CPU.
const (
	// listContainers prints "NAME HEALTHCHECKS" per Quadlet container.
	listContainers = `cd /etc/containers/systemd && for f in *.container; do [ -e "$f" ] && printf '%s %s\n' "${f%.container}" "$(grep -c '^HealthCmd=' "$f")"; done; true`
	// listFailed prints the failed and restarting units.
	listFailed  = `systemctl list-units --all --state=failed,auto-restart --plain --no-legend --no-pager | awk '{print $1}'`
	readRelease = `cat /etc/kiln/release.json`
	// podmanPS needs root: the appliance's containers are rootful.
	podmanPS = `sudo -n podman ps -a --format '{{.Names}}\t{{.Status}}'`
)

// stateCommand is one look at the services' units and containers.
func stateCommand(units []string) string {
	u := strings.Join(units, " ")
	return "systemctl is-active " + u + "; echo ==; systemctl show -P NRestarts " + u + "; echo ==; " + podmanPS
}

// healthcheckUnit matches the transient unit Podman runs a container's
// health check in: the container's full ID, a dash, a random suffix.
var healthcheckUnit = regexp.MustCompile(`^[0-9a-f]{64}-[0-9a-f]+\.(service|timer)$`)

// Check waits (until o.SettleBy) for the guest's services to settle, then
// checks services, failed units, ports and the release file. An error means
// the guest could not be asked at all; a failed check is a Problem in the
// report.
func Check(ctx context.Context, g Guest, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll == 0 {
		o.Poll = 10 * time.Second
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	r := &Report{Services: []Service{}, FailedUnits: []string{}, Ports: []PortResult{}, Problems: []string{}}

	// 1. The appliance's containers, as the guest has them.
	out, err := g.Run(listContainers)
	if err != nil {
		return nil, fmt.Errorf("listing the Quadlet containers: %w", err)
	}
	svcs := parseContainers(out)
	if len(svcs) == 0 {
		r.problem("no Quadlet container in /etc/containers/systemd: the config did not apply")
	}

	// 2. Wait until each is active and healthy, or cannot get there.
	svcs, err = settle(ctx, g, svcs, o, logf)
	if err != nil {
		return nil, err
	}
	r.Services = svcs
	for _, s := range svcs {
		if !s.OK {
			r.problem("service %s is not healthy: unit %s, container %q, %d restarts", s.Name, s.Active, s.Status, s.Restarts)
		}
	}

	// 3. Failed units.
	out, err = g.Run(listFailed)
	if err != nil {
		return nil, fmt.Errorf("listing failed units: %w", err)
	}
	for _, u := range strings.Fields(out) {
		if healthcheckUnit.MatchString(u) {
			continue
		}
		r.FailedUnits = append(r.FailedUnits, u)
		r.problem("unit %s failed (journalctl -b -u %s)", u, u)
	}

	// 4. Ports, from outside.
	if o.Probe != nil {
		r.Ports = probePorts(ctx, o.Ports, o.Probe)
		for _, p := range r.Ports {
			switch {
			case p.OK:
			case p.Public:
				r.problem("public port %d (%s) does not answer from outside", p.Port, p.Owner)
			default:
				r.problem("port %d (%s) answers from outside; only the spec's public ports should", p.Port, p.Owner)
			}
		}
	}

	// 5. The release file.
	r.Release = checkRelease(g, o.Release)
	for _, f := range r.Release.Fields {
		if !f.OK {
			r.problem("/etc/kiln/release.json: %s is %q, want %q (%s)", f.Field, f.Got, f.Want, f.From)
		}
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

func (r *Report) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

// parseContainers reads listContainers' output.
func parseContainers(out string) []Service {
	var svcs []Service
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		svcs = append(svcs, Service{Name: f[0], HealthCheck: n > 0, Active: "unknown"})
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	return svcs
}

// hopeless says a service will not get healthy by waiting: its unit gave
// up, or systemd restarted it again and again.
func hopeless(s Service) bool {
	return s.Active == "failed" || s.Restarts >= 3
}

// settle looks at the services every o.Poll until each is OK or hopeless,
// or until o.SettleBy, and returns their last state.
func settle(ctx context.Context, g Guest, svcs []Service, o Options, logf func(string, ...any)) ([]Service, error) {
	if len(svcs) == 0 {
		return svcs, nil
	}
	var units []string
	for _, s := range svcs {
		units = append(units, s.Name+".service")
	}
	cmd := stateCommand(units)
	for {
		// systemctl is-active exits non-zero while a unit is not active;
		// its output is still the answer.
		// Only the last command, podman, decides the exit status.
		out, err := g.Run(cmd)
		if err != nil && strings.Count(out, "==") == 2 {
			return nil, fmt.Errorf("podman ps, which needs root, failed (log in as a user with `sudo: true` in the spec): %w", err)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the services' state: %w", err)
		}
		svcs = parseState(svcs, out)
		var waiting []string
		for _, s := range svcs {
			if !s.OK && !hopeless(s) {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", s.Name, describe(s)))
			}
		}
		if len(waiting) == 0 || !o.Now().Before(o.SettleBy) {
			return svcs, nil
		}
		logf("waiting for %d of %d services: %s", len(waiting), len(svcs), strings.Join(waiting, ", "))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Poll):
		}
	}
}

func describe(s Service) string {
	if s.Status == "" {
		return s.Active
	}
	return s.Active + ", " + s.Status
}

// parseState reads stateCommand's output into svcs (in the same order).
func parseState(svcs []Service, out string) []Service {
	parts := strings.SplitN(out, "==\n", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	states, restarts := strings.Fields(parts[0]), strings.Fields(parts[1])
	status := map[string]string{}
	for _, line := range strings.Split(parts[2], "\n") {
		if name, st, ok := strings.Cut(line, "\t"); ok {
			status[name] = st
		}
	}
	next := make([]Service, len(svcs))
	for i, s := range svcs {
		s.Active, s.Restarts, s.Status = "unknown", 0, status[s.Name]
		if i < len(states) {
			s.Active = states[i]
		}
		if i < len(restarts) {
			s.Restarts, _ = strconv.Atoi(restarts[i])
		}
		s.Health = health(s.Status)
		// A container that was just restarted has no health status yet;
		// only "healthy" counts for one with a check.
		s.OK = s.Active == "active" && s.Status != "" && (s.Health == "healthy" || !s.HealthCheck && s.Health == "")
		next[i] = s
	}
	return next
}

// health reads podman ps's status column into the health check's state.
func health(status string) string {
	for _, h := range []string{"unhealthy", "healthy", "starting"} {
		if strings.Contains(status, "("+h+")") {
			return h
		}
	}
	return ""
}

// probePorts probes every port at once: a port the guest drops costs its
// whole wait, and the waits need not add up.
func probePorts(ctx context.Context, ports []Port, probe func(context.Context, Port) bool) []PortResult {
	res := make([]PortResult, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := probe(ctx, p)
			res[i] = PortResult{Port: p.Port, Owner: p.Owner, Public: p.Public, Answers: got, OK: got == p.Public}
		}()
	}
	wg.Wait()
	return res
}

// checkRelease reads release.json and compares each expected field.
func checkRelease(g Guest, want []Expect) ReleaseResult {
	res := ReleaseResult{Fields: []FieldResult{}, OK: true}
	out, err := g.Run(readRelease)
	got := map[string]any{}
	if err == nil {
		err = json.Unmarshal([]byte(out), &got)
	}
	for _, e := range want {
		f := FieldResult{Field: e.Field, Want: e.Want, From: e.From}
		if v, ok := got[e.Field]; ok {
			f.Got = fmt.Sprint(v)
		} else if err != nil {
			f.Got = "(unreadable: " + err.Error() + ")"
		}
		f.OK = f.Got == f.Want
		res.OK = res.OK && f.OK
		res.Fields = append(res.Fields, f)
	}
	return res
}
