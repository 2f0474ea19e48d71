package builder

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
)

// TestRepeated: newPlan refuses a plan in which two parts write the same
// file or unit, naming the first path it finds twice in the sorted list.
func TestRepeated(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
		ok   bool
	}{
		{[]string{"/a", "/b", "/c"}, "", false},
		{[]string{"/a", "/b", "/b", "/c", "/c"}, "/b", true},
		{nil, "", false},
	} {
		got, ok := repeated(tc.keys, func(s string) string { return s })
		if got != tc.want || ok != tc.ok {
			t.Errorf("repeated(%q) = %q, %v; want %q, %v", tc.keys, got, ok, tc.want, tc.ok)
		}
	}
}

// TestNeeds: a kind whose server is missing gets ErrMissingService naming
// both, rather than a config pointing at a host that does not exist.
func TestNeeds(t *testing.T) {
	p := &plan{App: &spec.Appliance{Services: []spec.Service{{Name: "db", Kind: spec.KindPostgres}}}}
	if s, err := p.needs("pgbouncer", spec.KindPostgres); err != nil || s.Name != "db" {
		t.Errorf("needs(postgres) = %v, %v", s, err)
	}
	_, err := p.needs("nginx-exporter", spec.KindEdge)
	if !errors.Is(err, ErrMissingService) || !strings.Contains(err.Error(), "kind nginx-exporter needs a service of kind edge") {
		t.Errorf("needs(edge) = %v", err)
	}
}
