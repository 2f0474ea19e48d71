package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays"
)

// TestMetricsScrapable checks that /metrics is what Prometheus accepts from
// a target: its text format (judged by promtool) under the Content-Type
// Prometheus 3 requires. A stand-in scraped as down would hide whether the
// appliance's scrape configuration reaches it.
func TestMetricsScrapable(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	srv := httptest.NewServer(newMux("backend", func() map[string]dep { return nil }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("/metrics Content-Type %q, want Prometheus's text format (text/plain; version=0.0.4)", ct)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &body
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nbody:\n%s", err, out, body.String())
	}
	// The health checks of the real images ask for other paths.
	for _, path := range []string{"/health", "/api/health", "/ready", "/-/ready", "/"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", path, r.StatusCode)
		}
	}
}

// TestEveryClipperImageHasStandin checks that every image the default
// appliance runs (its services' images and kiln's own, pinned by digest)
// has a stand-in in the test OS, under the same reference, and that every
// stand-in is one Clipper still uses.
func TestEveryClipperImageHasStandin(t *testing.T) {
	res, err := builder.Render(builder.Request{File: builder.DefaultSpecName, Spec: builder.DefaultSpec})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	// Every image Quadlet runs is named by an Image= line; those of .image
	// units are the references (the others name the .image unit).
	for _, m := range regexp.MustCompile(`(?m)^\s*Image=(\S+)\s*$`).FindAllStringSubmatch(string(res.Butane), -1) {
		if !strings.HasSuffix(m[1], ".image") {
			want[m[1]] = true
		}
	}
	for _, img := range overlays.Images() {
		if bytes.Contains(res.Butane, []byte(img.Pinned())) {
			want[img.Pinned()] = true
		}
	}
	if len(want) < 10 {
		t.Fatalf("found only %d images in Clipper's Butane: %v", len(want), want)
	}

	have := map[string]string{} // reference → file:line
	services := readTable(t, filepath.Join("..", "standins"), 4)
	for _, row := range services {
		have[row.f[0]] = row.where
		// A Debian stand-in needs its Containerfile; any other NAME is the
		// Go server, which needs somewhere to listen.
		if _, err := os.Stat(filepath.Join("images", row.f[1]+".Containerfile")); err != nil && row.f[2] == "-" {
			t.Errorf("%s: %s has neither images/%s.Containerfile nor a LISTEN address for the Go stand-in", row.where, row.f[0], row.f[1])
		}
	}
	for _, row := range readTable(t, "jobs", 3) {
		have[row.f[0]+"@"+row.f[1]] = row.where
		if _, err := os.Stat(filepath.Join("images", row.f[2]+".Containerfile")); err != nil {
			t.Errorf("%s: images/%s.Containerfile is missing", row.where, row.f[2])
		}
	}
	for ref := range want {
		if _, ok := have[ref]; !ok {
			t.Errorf("Clipper runs %s, which has no stand-in: add it to testos/standins (or testos/standin/jobs if kiln pins it by digest)", ref)
		}
	}
	for ref, where := range have {
		if !want[ref] {
			t.Errorf("%s: stand-in for %s, which Clipper no longer runs: update the reference", where, ref)
		}
	}

	// Every Containerfile is used, so none drifts unnoticed.
	files, err := filepath.Glob(filepath.Join("images", "*.Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, row := range services {
		names = append(names, row.f[1])
	}
	for _, row := range readTable(t, "jobs", 3) {
		names = append(names, row.f[2])
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".Containerfile")
		if name != "go-standin" && !slices.Contains(names, name) {
			t.Errorf("%s is not used by testos/standins or testos/standin/jobs", f)
		}
	}
}

type row struct {
	where string
	f     []string
}

// readTable reads a whitespace-separated table with # comments, as
// testos/build.sh does.
func readTable(t *testing.T, path string, columns int) []row {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := path + ":" + strconv.Itoa(i+1)
		if len(f) != columns {
			t.Fatalf("%s: %d columns, want %d", where, len(f), columns)
		}
		rows = append(rows, row{where, f})
	}
	return rows
}
