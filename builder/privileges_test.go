package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// podmanDefaultCaps is the capability set Podman 5 gives a container's
// root process unless told otherwise (containers.conf default_capabilities).
var podmanDefaultCaps = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// privilegeTable describes what each container may do, read back from its
// Quadlet file: the user it runs as, its capabilities, whether its root
// filesystem is writable, its network, PID namespace, SELinux confinement
// and every host path it mounts.
func privilegeTable(units map[string]string) string {
	var b strings.Builder
	b.WriteString("# What each container of the Clipper appliance may do, read from its Quadlet file.\n" +
		"# Reviewed: a change here changes a container's privileges. Re-record with\n" +
		"# go test ./builder -run TestContainerPrivileges -update, and review the diff.\n" +
		"# user \"image\" is the image's own (root unless the image says otherwise);\n" +
		"# caps are the root process's capabilities (Podman 5 defaults, minus drops, plus adds).\n")
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range units {
			if strings.HasSuffix(n, ".container") && !yield(n) {
				return
			}
		}
	}) {
		kv := map[string][]string{}
		section := ""
		for _, l := range strings.Split(units[name], "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "[") {
				section = l
				continue
			}
			if k, v, ok := strings.Cut(l, "="); ok && section == "[Container]" && !strings.HasPrefix(l, "#") {
				kv[k] = append(kv[k], v)
			}
		}
		one := func(k, def string) string {
			if v := kv[k]; len(v) > 0 {
				return v[len(v)-1]
			}
			return def
		}
		caps := slices.Clone(podmanDefaultCaps)
		for _, d := range kv["DropCapability"] {
			for _, c := range strings.Fields(d) {
				if strings.EqualFold(c, "ALL") {
					caps = nil
				}
				caps = slices.DeleteFunc(caps, func(x string) bool { return x == c })
			}
		}
		for _, a := range kv["AddCapability"] {
			caps = append(caps, strings.Fields(a)...)
		}
		slices.Sort(caps)
		caps = slices.Compact(caps)
		capText := strings.Join(caps, " ")
		if capText == "" {
			capText = "none"
		}
		user := one("User", "image")
		if g := kv["GroupAdd"]; len(g) > 0 {
			user += " +groups " + strings.Join(g, " ")
		}
		rootfs := "writable"
		if one("ReadOnly", "false") == "true" {
			rootfs = "read-only"
		}
		if tm := kv["Tmpfs"]; len(tm) > 0 {
			rootfs += ", tmpfs " + strings.Join(tm, " ")
		}
		pid := "private"
		if strings.Contains(strings.Join(kv["PodmanArgs"], " "), "--pid=host") {
			pid = "host"
		}
		selinux := "confined"
		if one("SecurityLabelDisable", "false") == "true" {
			selinux = "disabled"
		}
		nnp := "no"
		if one("NoNewPrivileges", "false") == "true" {
			nnp = "yes"
		}
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSuffix(name, ".container"))
		fmt.Fprintf(&b, "  user:            %s\n", user)
		fmt.Fprintf(&b, "  caps:            %s\n", capText)
		fmt.Fprintf(&b, "  no-new-privs:    %s\n", nnp)
		fmt.Fprintf(&b, "  rootfs:          %s\n", rootfs)
		fmt.Fprintf(&b, "  network:         %s\n", one("Network", "podman default"))
		for _, p := range kv["PublishPort"] {
			fmt.Fprintf(&b, "  publish:         %s\n", p)
		}
		fmt.Fprintf(&b, "  pid:             %s\n", pid)
		fmt.Fprintf(&b, "  selinux:         %s\n", selinux)
		for _, v := range kv["Volume"] {
			parts := strings.SplitN(v, ":", 3)
			mode := "rw"
			if len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro") {
				mode = "ro"
			}
			kind := "host"
			if strings.HasSuffix(parts[0], ".volume") {
				kind = "volume"
			}
			fmt.Fprintf(&b, "  %-16s %s -> %s (%s)\n", "mount ("+kind+"):", parts[0], parts[1], mode)
		}
	}
	return b.String()
}

// TestContainerPrivileges compares every Clipper container's privileges
// with the reviewed table in testdata, so that a change in what a
// container may do shows as a diff.
func TestContainerPrivileges(t *testing.T) {
	res := renderCase(t, "clipper")
	units := map[string]string{}
	for _, u := range res.Units {
		units[u.Name] = u.Contents
	}
	testutil.Golden(t, filepath.Join("testdata", "privileges", "clipper.txt"), []byte(privilegeTable(units)))
}

// TestAlloyAdoptsItsData: Alloy no longer runs as root, so a data volume
// kept from a release that did holds files the alloy user cannot write;
// systemd-tmpfiles, run at boot, hands them over (judged by
// systemd-tmpfiles itself on a scratch root).
func TestAlloyAdoptsItsData(t *testing.T) {
	conf, _, ok := ignFile(t, renderCase(t, "clipper").Ignition, "/etc/tmpfiles.d/kiln.conf")
	if !ok {
		t.Fatal("Clipper has no /etc/tmpfiles.d/kiln.conf")
	}
	root := t.TempDir()
	old := filepath.Join(root, "var/lib/kiln/alloy/loki.source.journal.read/positions.yml")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("positions: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/tmpfiles.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/tmpfiles.d/kiln.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := judge.Exec(t, judge.Command{Name: "systemd-tmpfiles", Args: []string{"--root=" + root, "--create"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.Combined())
	}
	for _, p := range []string{filepath.Dir(filepath.Dir(old)), filepath.Dir(old), old} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := owner(st); uid != 473 || gid != 473 {
			t.Errorf("%s is owned by %d:%d after systemd-tmpfiles, want the alloy user 473:473", p, uid, gid)
		}
	}
}
