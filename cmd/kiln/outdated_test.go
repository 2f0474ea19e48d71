package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBaseOutdated runs `kiln base outdated` against the fixture stream
// (current metal release 42.20251012.3.0) served on loopback.
func TestBaseOutdated(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/streams/", http.StripPrefix("/streams/", http.FileServer(http.Dir("../../images/base/testdata"))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"appliance":"clipper","base_release":"42.20250901.3.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := kiln(t, dir, "base", "outdated", "--mirror", srv.URL, "--exit-code", "manifest.json")
	if code != 1 || !strings.Contains(out, "release 42.20250901.3.0 (stable), built 2025-09-01") || !strings.Contains(out, "rebuild due: stream stable has 42.20251012.3.0") {
		t.Errorf("old release: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = kiln(t, dir, "base", "outdated", "--mirror", srv.URL, "--exit-code", "42.20251012.3.0")
	if code != 0 || !strings.Contains(out, "current: stream stable has no newer release") {
		t.Errorf("current release: exit %d\n%s\n%s", code, out, stderr)
	}
}
