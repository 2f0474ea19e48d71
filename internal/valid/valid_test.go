package valid

import (
	"errors"
	"strings"
	"testing"
)

func TestDomain(t *testing.T) {
	for d, want := range map[string]error{
		"clipper.example.com": nil,
		"a-b.example.co":      nil,
		"*.example.com":       ErrWildcard,
		"localhost":           ErrDomain,
		"192.0.2.1":           ErrDomain,
		"Example.com":         ErrDomain,
		"exa mple.com":        ErrDomain,
		"-a.example.com":      ErrDomain,
		"":                    ErrDomain,
	} {
		if err := Domain(d); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("Domain(%q) = %v, want %v", d, err, want)
		}
	}
	if !errors.Is(Domain("*.example.com"), ErrDomain) {
		t.Error("a wildcard is not an ErrDomain")
	}
}

func TestEmail(t *testing.T) {
	for a, ok := range map[string]bool{
		"ops@example.com":       true,
		"":                      false,
		"Ops <ops@example.com>": false,
		"ops%n@example.com":     false,
		"ops;reboot@x.example":  false,
		"ops":                   false,
	} {
		if err := Email(a); (err == nil) != ok || err != nil && !errors.Is(err, ErrEmail) {
			t.Errorf("Email(%q) = %v, want ok=%v", a, err, ok)
		}
	}
}

func TestPortAndDuration(t *testing.T) {
	for p, ok := range map[int]bool{1: true, 65535: true, 0: false, 65536: false, -1: false} {
		if err := Port(p); (err == nil) != ok {
			t.Errorf("Port(%d) = %v", p, err)
		}
	}
	for s, ok := range map[string]bool{"30s": true, "1m": true, "0s": false, "-1s": false, "soon": false, "": false} {
		if _, err := Duration(s); (err == nil) != ok {
			t.Errorf("Duration(%q) = %v", s, err)
		}
	}
}

func TestNetwork(t *testing.T) {
	for _, n := range []string{"203.0.113.7", "203.0.113.0/24", "2001:db8::/32", "2001:db8::1", "0.0.0.0/0"} {
		if err := Network(n); err != nil {
			t.Errorf("Network(%q) = %v, want nil", n, err)
		}
	}
	for n, fix := range map[string]string{
		"203.0.113.5/24": "203.0.113.0/24",
		"fe80::1/64":     "fe80::/64",
		"example.com":    "203.0.113.0/24",
		"10.0.0.0/33":    "203.0.113.0/24",
	} {
		err := Network(n)
		var p *Problem
		if !errors.Is(err, ErrNetwork) || !errors.As(err, &p) || !strings.Contains(p.Fix, fix) {
			t.Errorf("Network(%q) = %v, want ErrNetwork with a fix naming %s", n, err, fix)
		}
	}
}
