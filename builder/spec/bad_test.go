package spec

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/badspecs"
)

var minimal = badspecs.Minimal

func TestMinimalIsValid(t *testing.T) {
	app, _, ds := Load("minimal.yaml", []byte(minimal))
	if app == nil || ds.HasErrors() {
		t.Fatalf("minimal spec rejected:\n%v", ds)
	}
}

func TestBadSpecs(t *testing.T) {
	if len(badspecs.Cases) < 30 {
		t.Fatalf("want at least 30 bad specs, have %d", len(badspecs.Cases))
	}
	for _, tc := range badspecs.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			src, ok := tc.Spec()
			if !ok {
				t.Fatalf("case does not apply: %q not in the minimal spec", tc.Old)
			}
			app, _, ds := Load("bad.yaml", []byte(src))
			if app != nil || !ds.HasErrors() {
				t.Fatalf("spec accepted, want error at %s %s\n%s", tc.Pos, tc.Path, src)
			}
			want := "bad.yaml:" + tc.Pos + ": "
			for _, d := range ds {
				if d.Severity == Error && strings.HasPrefix(d.String(), want) && d.Path == tc.Path && strings.Contains(d.Msg+" — "+d.Fix, tc.Msg) {
					if d.Fix == "" {
						t.Errorf("diagnostic has no fix: %s", d)
					}
					return
				}
			}
			t.Errorf("no error at %s%s containing %q; got:\n%s", want, tc.Path, tc.Msg, diagLines(ds))
		})
	}
}

// TestWarningSpecs checks every warning of the table: the spec still
// loads, the warning points at the user's line with a fix, and --strict
// turns it into an error.
func TestWarningSpecs(t *testing.T) {
	for _, tc := range badspecs.Warnings {
		t.Run(tc.Name, func(t *testing.T) {
			src, ok := tc.Spec()
			if !ok {
				t.Fatalf("case does not apply: %q not in the minimal spec", tc.Old)
			}
			app, _, ds := Load("warn.yaml", []byte(src))
			if app == nil || ds.HasErrors() {
				t.Fatalf("spec refused, want only a warning:\n%s", diagLines(ds))
			}
			if !ds.Strict().HasErrors() {
				t.Error("--strict must refuse it")
			}
			want := "warn.yaml:" + tc.Pos + ": warning: "
			for _, d := range ds {
				if d.Severity == Warning && strings.HasPrefix(d.String(), want) && d.Path == tc.Path && strings.Contains(d.Msg+" — "+d.Fix, tc.Msg) {
					if d.Fix == "" {
						t.Errorf("diagnostic has no fix: %s", d)
					}
					return
				}
			}
			t.Errorf("no warning at %s%s containing %q; got:\n%s", want, tc.Path, tc.Msg, diagLines(ds))
		})
	}
}

func diagLines(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

func TestWarningsAndStrict(t *testing.T) {
	src := strings.Replace(minimal, "ports: [{port: 5436}]", "ports: [{port: 5436, public: true, force: true}]", 1)
	app, _, ds := Load("w.yaml", []byte(src))
	if app == nil {
		t.Fatalf("forced public port must only warn:\n%s", diagLines(ds))
	}
	var found bool
	for _, d := range ds {
		if d.Severity == Warning && d.Path == "services[0].ports[0].public" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning for the forced public database port:\n%s", diagLines(ds))
	}
	if !ds.Strict().HasErrors() {
		t.Fatal("--strict must turn warnings into errors")
	}
	// Not pinned by digest is a warning, which --strict makes an error.
	for _, d := range ds {
		if d.Path == "services[1].image" && d.Severity == Warning && strings.Contains(d.Msg, "not pinned by digest") {
			return
		}
	}
	t.Fatalf("no digest warning for services[1].image:\n%s", diagLines(ds))
}
