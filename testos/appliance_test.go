package testos_test

// What the whole-appliance VM test (boot_test.go, build tag vmtest) reads
// from the booted guest and from the built image, kept apart from the boot
// so that `go test ./testos/` checks it without a VM.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// quadletUnits is the shell command that prints every Image= and Requires=
// line of the appliance's Quadlet files, each prefixed with its file name;
// readQuadlets parses what it prints.
const quadletUnits = `cd /etc/containers/systemd && grep -H -E '^(Image|Requires|HealthCmd|Network)=' *.container *.image`

// quadlet is one Quadlet container of the appliance as the guest has it.
type quadlet struct {
	// Name is the unit's name without .service, also the container's name.
	Name string
	// Image is the reference the container runs (an .image unit resolved).
	Image string
	// Requires are the names of the appliance's other containers that its
	// unit requires: when one of them cannot start, neither can this one.
	Requires []string
	// Health says whether the container has a health check.
	Health bool
	// HostNetwork says the container shares the host's network (the
	// node exporter): it has no name on the appliance network.
	HostNetwork bool
}

// readQuadlets parses the output of quadletUnits: "FILE:KEY=VALUE" lines.
func readQuadlets(out string) ([]quadlet, error) {
	images := map[string]string{} // NAME.image -> reference
	byName := map[string]*quadlet{}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		file, kv, ok := strings.Cut(sc.Text(), ":")
		key, value, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			continue
		}
		value = strings.TrimSpace(value)
		if strings.HasSuffix(file, ".image") {
			if key == "Image" {
				images[file] = value
			}
			continue
		}
		name := strings.TrimSuffix(file, ".container")
		q := byName[name]
		if q == nil {
			q = &quadlet{Name: name}
			byName[name] = q
			names = append(names, name)
		}
		switch key {
		case "Image":
			q.Image = value
		case "HealthCmd":
			q.Health = true
		case "Network":
			q.HostNetwork = value == "host"
		case "Requires", "Wants":
			// kiln's containers want their peers (units.Container.DependsOn);
			// a peer that cannot run leaves them without it, as Requires=
			// would.
			for _, u := range strings.Fields(value) {
				if name, ok := strings.CutSuffix(u, ".service"); ok {
					q.Requires = append(q.Requires, name)
				}
			}
		}
	}
	var list []quadlet
	for _, n := range names {
		q := byName[n]
		if ref, ok := images[q.Image]; ok {
			q.Image = ref
		}
		if q.Image == "" {
			return nil, fmt.Errorf("%s.container has no Image=", n)
		}
		list = append(list, *q)
	}
	if len(list) == 0 {
		return nil, errors.New("no Quadlet container in /etc/containers/systemd")
	}
	return list, nil
}

// blockedBy says, for each container that cannot run in the test OS, why:
// its image is not in the test OS's container storage (no stand-in, and no
// registry to pull from), or a container its unit requires cannot run. A
// container absent from the map is expected to run and be healthy.
func blockedBy(qs []quadlet, present func(image string) bool) map[string]string {
	why := map[string]string{}
	for _, q := range qs {
		if !present(q.Image) {
			why[q.Name] = "no stand-in image for " + q.Image
		}
	}
	// Requirements chain (backend -> pgbouncer -> postgres): repeat until
	// nothing changes.
	for changed := true; changed; {
		changed = false
		for _, q := range qs {
			if _, ok := why[q.Name]; ok {
				continue
			}
			for _, r := range q.Requires {
				if _, ok := why[r]; ok {
					why[q.Name] = "requires " + r + ", which cannot run (" + why[r] + ")"
					changed = true
					break
				}
			}
		}
	}
	return why
}

// health reads podman ps's Status column ("Up 2 minutes (healthy)") into the
// health check's state, or "" for a container without a health check.
func health(status string) string {
	for _, h := range []string{"unhealthy", "healthy", "starting"} {
		if strings.Contains(status, "("+h+")") {
			return h
		}
	}
	return ""
}

// notFound matches a shell's or crun's report of a missing program.
var notFound = regexp.MustCompile("(?:([^\\s:\"]+): not found|executable file `([^`]+)` not found)")

// missingProgram reads a container's health log (podman inspect's
// .State.Health as JSON) and returns the program its check could not find,
// or "" when the check failed for another reason.
func missingProgram(healthJSON string) string {
	var h struct {
		Log []struct {
			ExitCode int
			Output   string
		}
	}
	if json.Unmarshal([]byte(healthJSON), &h) != nil {
		return ""
	}
	for _, l := range h.Log {
		if m := notFound.FindStringSubmatch(l.Output); m != nil && l.ExitCode != 0 {
			return m[1] + m[2]
		}
	}
	return ""
}

// findInFile reports which of needles occur in the file at path. It reads
// only the file's data, not its holes (a built raw image is mostly holes),
// in chunks that overlap by the longest needle so that a match across a
// chunk boundary is found.
func findInFile(path string, needles [][]byte) ([]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	longest := 0
	for _, n := range needles {
		if len(n) == 0 {
			return nil, errors.New("findInFile: empty needle")
		}
		longest = max(longest, len(n))
	}
	found := make([]bool, len(needles))
	const chunk = 8 << 20
	buf := make([]byte, chunk+longest)
	fd := int(f.Fd())
	for off := int64(0); off < st.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			data = off // no SEEK_DATA on this filesystem: read everything
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = st.Size()
		}
		// Read [data, hole) with the overlap carried from one chunk to
		// the next.
		carry := 0
		for pos := data; pos < hole; {
			n := int(min(int64(chunk), hole-pos))
			if _, err := f.ReadAt(buf[carry:carry+n], pos); err != nil && err != io.EOF {
				return nil, err
			}
			window := buf[:carry+n]
			for i, nd := range needles {
				if !found[i] && bytes.Contains(window, nd) {
					found[i] = true
				}
			}
			pos += int64(n)
			carry = min(longest-1, len(window))
			copy(buf, window[len(window)-carry:])
		}
		off = hole
	}
	return found, nil
}

func TestReadQuadlets(t *testing.T) {
	out := strings.Join([]string{
		"backend.container:Image=backend.image",
		"backend.container:Requires=pgbouncer.service redis.service",
		"backend.container:HealthCmd=wget -q -O /dev/null http://127.0.0.1:8080/health",
		"backend.image:Image=ghcr.io/clipper-app/backend:1.0.0",
		"pgbouncer.container:Image=pgbouncer.image",
		"pgbouncer.container:Requires=postgres.service",
		"pgbouncer.image:Image=docker.io/edoburu/pgbouncer:v1.24.1-p1",
		"postgres.container:Image=docker.io/library/postgres:17.6-alpine",
		"redis.container:Image=redis.image",
		"redis.image:Image=docker.io/library/redis:8.2-alpine",
		"loki.container:Image=loki.image",
		"loki.image:Image=docker.io/grafana/loki:3.5.5",
		"node-exporter.container:Image=quay.io/prometheus/node-exporter:v1.9.1",
		"node-exporter.container:Network=host",
	}, "\n")
	qs, err := readQuadlets(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []quadlet{
		{Name: "backend", Image: "ghcr.io/clipper-app/backend:1.0.0", Requires: []string{"pgbouncer", "redis"}, Health: true},
		{Name: "pgbouncer", Image: "docker.io/edoburu/pgbouncer:v1.24.1-p1", Requires: []string{"postgres"}},
		{Name: "postgres", Image: "docker.io/library/postgres:17.6-alpine"},
		{Name: "redis", Image: "docker.io/library/redis:8.2-alpine"},
		{Name: "loki", Image: "docker.io/grafana/loki:3.5.5"},
		{Name: "node-exporter", Image: "quay.io/prometheus/node-exporter:v1.9.1", HostNetwork: true},
	}
	if fmt.Sprint(qs) != fmt.Sprint(want) {
		t.Errorf("readQuadlets:\n got %v\nwant %v", qs, want)
	}

	// postgres has no stand-in: pgbouncer cannot start, and so neither
	// can backend; redis and loki are unaffected.
	why := blockedBy(qs, func(image string) bool { return !strings.Contains(image, "postgres") })
	var blocked []string
	for n := range why {
		blocked = append(blocked, n)
	}
	slices.Sort(blocked)
	if !slices.Equal(blocked, []string{"backend", "pgbouncer", "postgres"}) {
		t.Errorf("blocked %v, want backend, pgbouncer, postgres: %v", blocked, why)
	}
	if !strings.Contains(why["backend"], "requires pgbouncer") {
		t.Errorf("backend blocked because %q", why["backend"])
	}

	if _, err := readQuadlets("x.image:Image=a\n"); err == nil {
		t.Error("no container: no error")
	}
	if _, err := readQuadlets("x.container:Requires=y.service\n"); err == nil {
		t.Error("container without an image: no error")
	}
}

func TestHealth(t *testing.T) {
	for status, want := range map[string]string{
		"Up 2 minutes (healthy)":        "healthy",
		"Up 5 seconds (starting)":       "starting",
		"Up About a minute (unhealthy)": "unhealthy",
		"Up 3 minutes":                  "",
		"Exited (137) 10 seconds ago":   "",
		"Created":                       "",
	} {
		if got := health(status); got != want {
			t.Errorf("health(%q) = %q, want %q", status, got, want)
		}
	}
}

func TestMissingProgram(t *testing.T) {
	for log, want := range map[string]string{
		// The alloy stand-in (busybox) under kiln's bash check.
		`{"Status":"starting","FailingStreak":1,"Log":[{"ExitCode":1,"Output":"/bin/sh: bash: not found\n"}]}`:                       "bash",
		`{"Log":[{"ExitCode":127,"Output":"crun: executable file ` + "`wget`" + ` not found in $PATH: No such file or directory"}]}`: "wget",
		// A check that ran and failed is kiln's or the service's problem.
		`{"Log":[{"ExitCode":1,"Output":"wget: server returned error: HTTP/1.1 503"}]}`: "",
		`{"Log":[{"ExitCode":0,"Output":"file not found: ok"}]}`:                        "",
		`not json`: "",
	} {
		if got := missingProgram(log); got != want {
			t.Errorf("missingProgram(%s) = %q, want %q", log, got, want)
		}
	}
}

func TestFindInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A needle across the 8 MiB chunk boundary, one after a hole, one at
	// the very end; the file is sparse as a built image is.
	const chunk = 8 << 20
	write := func(off int64, s string) {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	// Data from offset 0 past the first chunk, so that the chunks start
	// at 0 and the needle straddles the first boundary.
	write(0, strings.Repeat("x", chunk+4096))
	write(chunk-3, "ACROSSBOUNDARY")
	write(64<<20, "AFTERAHOLE")
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	write(100<<20-7, "THE-END")
	f.Close()
	found, err := findInFile(path, [][]byte{[]byte("ACROSSBOUNDARY"), []byte("AFTERAHOLE"), []byte("THE-END"), []byte("ABSENT")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, false}; !slices.Equal(found, want) {
		t.Errorf("found %v, want %v", found, want)
	}
}
