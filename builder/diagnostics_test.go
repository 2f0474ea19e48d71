package builder

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/badspecs"
)

// TestBadSpecsThroughRender: every broken spec of the shared table fails
// Render with an error that names FILE:LINE:COL and the spec path, and no
// internal step number.
func TestBadSpecsThroughRender(t *testing.T) {
	for _, tc := range badspecs.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			src, ok := tc.Spec()
			if !ok {
				t.Fatalf("case does not apply to the minimal spec")
			}
			_, err := Render(Request{File: "bad.yaml", Spec: []byte(src)})
			if err == nil {
				t.Fatal("Render accepted the spec")
			}
			msg := err.Error()
			want := "bad.yaml:" + tc.Pos + ": "
			if tc.Path != "" {
				want += tc.Path + ": "
			}
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
			if !strings.Contains(msg, tc.Msg) {
				t.Errorf("error %q lacks %q", msg, tc.Msg)
			}
			if strings.Contains(msg, "step") {
				t.Errorf("error %q names a plan step", msg)
			}
		})
	}
}

// TestOverlayErrorAtSpecLine: a value an overlay refuses is reported at the
// line of the spec it came from, with the spec's path. The loader refuses
// the same value first, so the test changes it after loading, as a caller
// that skipped the loader would.
func TestOverlayErrorAtSpecLine(t *testing.T) {
	app, src, ds := spec.Load("clipper.yaml", DefaultSpec)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	for _, tc := range []struct {
		edit func(*spec.Appliance)
		want string
	}{
		{func(a *spec.Appliance) { a.TLS.Domains = []string{"*.example.com"} }, "clipper.yaml:60:13: tls.domains[0]: \"*.example.com\" is a wildcard"},
		{func(a *spec.Appliance) { a.TLS.Email = "Ops <admin@example.com>" }, "clipper.yaml:61:10: tls.email: \"Ops <admin@example.com>\" is not an email address — write a bare address"},
		// The edge's names, by kiln's one domain rule.
		{func(a *spec.Appliance) { a.TLS.Domains = []string{"Clipper.example.com"} }, "clipper.yaml:60:13: tls.domains[0]: \"Clipper.example.com\" is not a domain name — write a lower-case host name"},
		// sshd's AllowUsers.
		{func(a *spec.Appliance) { a.Users = append([]spec.User(nil), a.Users...); a.Users[0].Name = "root" }, "clipper.yaml:40:5: users[0]: root may not log in"},
		// Alertmanager's settings and receivers.
		{func(a *spec.Appliance) { a.Alerts.GroupWait = "soon" }, "clipper.yaml:283:15: alerts.group_wait: \"soon\": want a duration"},
		// The firewall's allow-list.
		{func(a *spec.Appliance) {
			a.Firewall.Allow = []spec.AllowRule{{Port: 9090, From: []string{"somewhere"}}}
		}, "clipper.yaml:55:10: firewall.allow[0].from[0]: \"somewhere\": invalid CIDR"},
	} {
		a := *app
		a.TLS.Domains = append([]string(nil), app.TLS.Domains...)
		tc.edit(&a)
		_, err := newPlan(&a)
		if err == nil {
			t.Fatal("the plan accepted the bad value")
		}
		got := planError(&Result{}, src, err)
		if got == nil || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("got %v, want %q", got, tc.want)
		}
	}
}
