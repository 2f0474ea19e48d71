package units

import (
	"fmt"
	"strings"
)

// MountUnitName returns the systemd unit name for a mount point, escaped as
// systemd-escape --path does (/var/lib/kiln → var-lib-kiln.mount).
func MountUnitName(where string) string {
	return EscapePath(where) + ".mount"
}

// EscapePath escapes a path for use in a unit name, as systemd-escape
// --path does (/dev/disk/by-label/kiln-data → dev-disk-by\x2dlabel-kiln\x2ddata).
func EscapePath(p string) string {
	p = strings.Trim(p, "/")
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.' && i > 0, c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// DataMount mounts the persistent data filesystem by its label, so a
// rebuilt server (or one whose device was renamed) finds the same data.
//
// A mount unit written by hand gets no filesystem check (only fstab
// entries do, through systemd-fstab-generator), so it asks for
// systemd-fsck@ of its device itself, as Butane's generated mount units do:
// a filesystem left dirty by a crash is repaired before the services'
// data is trusted to it.
func DataMount(label, where, fstype string) Unit {
	fsck := "systemd-fsck@" + EscapePath("/dev/disk/by-label/"+label) + ".service"
	return Unit{Name: MountUnitName(where), Enabled: true, Contents: fmt.Sprintf(`[Unit]
Description=kiln persistent data (survives rebuilds)
Requires=%s
After=%s
Before=local-fs.target

[Mount]
What=/dev/disk/by-label/%s
Where=%s
Type=%s
Options=defaults,nodev,nosuid

[Install]
RequiredBy=local-fs.target
`, fsck, fsck, label, where, fstype)}
}

// Oneshot renders a service that runs a command once per boot and stays
// "active" so that other units can order after it.
func Oneshot(name, description, exec string, after, before []string) Unit {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=%s\n", description)
	if len(after) > 0 {
		fmt.Fprintf(&b, "After=%s\nRequires=%s\n", strings.Join(after, " "), strings.Join(after, " "))
	}
	if len(before) > 0 {
		fmt.Fprintf(&b, "Before=%s\n", strings.Join(before, " "))
	}
	fmt.Fprintf(&b, "\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=%s\n\n[Install]\nWantedBy=multi-user.target\n", exec)
	return Unit{Name: name + ".service", Enabled: true, Contents: b.String()}
}

// Timer renders a timer that starts name.service on a calendar schedule.
// Persistent timers catch up on a run missed while the server was off.
func Timer(name, description, onCalendar, randomizedDelay string) Unit {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=%s\n\n[Timer]\nOnCalendar=%s\nPersistent=true\n", description, onCalendar)
	if randomizedDelay != "" {
		fmt.Fprintf(&b, "RandomizedDelaySec=%s\n", randomizedDelay)
	}
	fmt.Fprintf(&b, "Unit=%s.service\n\n[Install]\nWantedBy=timers.target\n", name)
	return Unit{Name: name + ".timer", Enabled: true, Contents: b.String()}
}
