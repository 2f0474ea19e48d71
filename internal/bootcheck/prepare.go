package bootcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/images"
)

// Errors of Prepare, one per kind of bad input; each is wrapped with the
// file it concerns and the fix.
var (
	// ErrNotDisk: the artifact is not a kiln raw or qcow2 disk image.
	ErrNotDisk = errors.New("not a kiln disk image")
	// ErrManifest: manifest.json is missing, unreadable, or does not
	// describe the artifact.
	ErrManifest = errors.New("manifest")
	// ErrSpec: the spec is not the one the artifact was built from, or
	// does not admit the user or the key.
	ErrSpec = errors.New("spec")
	// ErrKey: the login key cannot be read or used.
	ErrKey = errors.New("key")
	// ErrTool: a program the boot needs is missing.
	ErrTool = errors.New("missing program")
)

// Request is what an operator asks of a test boot; Prepare checks it
// against the artifact, its manifest and its spec and turns it into
// BootOptions.
type Request struct {
	// Artifact is the raw or qcow2 image kiln build wrote.
	Artifact string
	// Manifest is the build's manifest.json ("": the one beside Artifact).
	Manifest string
	// App is the spec the artifact was built from, SpecFile its name and
	// ConfigDigest its rendered configuration's digest (builder.Render),
	// which must be the one built into the artifact.
	App          *spec.Appliance
	SpecFile     string
	ConfigDigest string
	// KeyFile is the private key (OpenSSH or PEM, no passphrase) of User
	// ("": the spec's first user with sudo, podman's state needing root).
	KeyFile, User string
	// DiskSize is the machine's disk in bytes (0: the manifest's
	// min_disk_mib, enough for the data partition, or the image's size).
	DiskSize int64
	// Accel, MemoryMiB, CPUs, Timeout and SerialLog go to BootOptions.
	Accel           string
	MemoryMiB, CPUs int
	Timeout         time.Duration
	SerialLog       string
}

// Prepare checks r (the artifact is a disk image listed in its manifest,
// the spec is the one it was built from, the key belongs to the user, QEMU
// is installed) and returns the options of its boot. It writes nothing.
func Prepare(r Request) (BootOptions, error) {
	var o BootOptions
	// 1. The artifact and what kiln built into it.
	ins, err := images.Inspect(r.Artifact)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return o, fmt.Errorf("%w: %v", ErrNotDisk, err)
		}
		return o, fmt.Errorf("%s: %w: %v — give a .raw or .qcow2 that kiln build wrote (decompress a .xz first: xz -dk FILE)", r.Artifact, ErrNotDisk, err)
	}
	if ins.Kind != images.KindRaw && ins.Kind != images.KindQcow2 {
		return o, fmt.Errorf("%s: %w: it is a %s; test-boot boots raw and qcow2 disk images (build one with --format raw or qcow2)", r.Artifact, ErrNotDisk, ins.Kind)
	}
	o.Artifact, o.Format = r.Artifact, ins.Kind

	// 2. Its manifest: which build it is, and the disk it needs.
	m, art, err := readManifest(r.Artifact, r.Manifest, ins)
	if err != nil {
		return o, err
	}

	// 3. The spec it was built from: ports, users.
	if r.App == nil {
		return o, fmt.Errorf("%w: no spec given", ErrSpec)
	}
	if ins.ConfigDigest != "" && r.ConfigDigest != ins.ConfigDigest {
		return o, fmt.Errorf("%s: %w: it is not the spec %s was built from (its config digest is %s, the image's %s) — pass the spec of that build with -f FILE",
			r.SpecFile, ErrSpec, r.Artifact, r.ConfigDigest, ins.ConfigDigest)
	}
	user, err := pickUser(r)
	if err != nil {
		return o, err
	}
	o.User = user.Name

	// 4. The key, which that user's entry in the spec must list.
	o.Signer, err = readKey(r.KeyFile, user, r.SpecFile)
	if err != nil {
		return o, err
	}

	// 5. The programs.
	if o.QEMU, err = lookTool("qemu-system-x86_64", "qemu-system-x86"); err != nil {
		return o, err
	}
	if o.QEMUImg, err = lookTool("qemu-img", "qemu-utils"); err != nil {
		return o, err
	}

	// 6. The machine and what to expect of it: a disk at least as large
	// as the image, by default as large as the manifest says its servers
	// need (the data partition lies beyond the image's end).
	size, err := virtualSize(o.QEMUImg, r.Artifact, o.Format)
	if err != nil {
		return o, err
	}
	o.DiskSize = r.DiskSize
	if o.DiskSize == 0 {
		o.DiskSize = max(art.MinDiskMiB<<20, size)
	}
	if o.DiskSize < size {
		return o, fmt.Errorf("--disk-size %d MiB is smaller than the image %s (%d MiB): give at least its size, or leave it out for the manifest's min_disk_mib (%d MiB)",
			o.DiskSize>>20, r.Artifact, size>>20, art.MinDiskMiB)
	}
	o.Accel, o.MemoryMiB, o.CPUs, o.Timeout, o.SerialLog = r.Accel, r.MemoryMiB, r.CPUs, r.Timeout, r.SerialLog
	o.SSHPort = r.App.SSH.Port
	o.Check.Ports = Ports(r.App)
	o.Check.Release = []Expect{
		{Field: "name", Want: m.Appliance, From: "manifest.json appliance"},
		{Field: "version", Want: m.Version, From: "manifest.json version"},
	}
	if ins.ConfigDigest != "" {
		o.Check.Release = append(o.Check.Release, Expect{Field: "config_digest", Want: ins.ConfigDigest, From: "the config built into " + filepath.Base(r.Artifact)})
	}
	return o, nil
}

// Ports lists the spec's ports: sshd's (public), then every port a service
// publishes on the host, public or loopback-only. A port that
// firewall.allow opens to some sources only is left out: whether it
// answers the host depends on those sources, not on kiln.
func Ports(app *spec.Appliance) []Port {
	allowed := map[int]bool{}
	for _, a := range app.Firewall.Allow {
		allowed[a.Port] = true
	}
	ports := []Port{{Port: app.SSH.Port, Owner: "sshd", Public: true}}
	for _, s := range app.Services {
		for _, p := range s.Ports {
			if !p.Public && allowed[p.Port] {
				continue
			}
			ports = append(ports, Port{Port: p.Port, Owner: s.Name, Public: p.Public})
		}
	}
	return ports
}

// readManifest reads the manifest and checks that it lists the artifact
// and records the config built into it.
func readManifest(artifact, path string, ins *images.InspectResult) (*images.Manifest, *images.Artifact, error) {
	if path == "" {
		path = filepath.Join(filepath.Dir(artifact), images.ManifestName)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w: no %s beside the artifact (%s); test-boot compares the booted server with the build — keep the artifact in kiln build's output directory, or pass --manifest FILE",
			artifact, ErrManifest, images.ManifestName, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	var m images.Manifest
	if err := json.Unmarshal(data, &m); err != nil || m.Appliance == "" {
		return nil, nil, fmt.Errorf("%s: %w: not a kiln build manifest (%v) — pass the manifest.json kiln build wrote with --manifest FILE", path, ErrManifest, err)
	}
	name := filepath.Base(artifact)
	var art *images.Artifact
	for i := range m.Artifacts {
		if m.Artifacts[i].Name == name {
			art = &m.Artifacts[i]
		}
	}
	if art == nil {
		return nil, nil, fmt.Errorf("%s: %w: it does not list %s — pass the manifest of the build that wrote it with --manifest FILE", path, ErrManifest, name)
	}
	if m.ConfigSHA256 != ins.ConfigSHA256 {
		return nil, nil, fmt.Errorf("%s: %w: it records config sha256 %s, but %s carries %s — the artifact is not the one this manifest describes (rebuilt or modified?)",
			path, ErrManifest, m.ConfigSHA256, name, ins.ConfigSHA256)
	}
	return &m, art, nil
}

// pickUser returns the spec's user named r.User, or the first with sudo
// (podman's state needs root), else the first.
func pickUser(r Request) (spec.User, error) {
	var names []string
	for _, u := range r.App.Users {
		names = append(names, u.Name)
		if r.User != "" && u.Name == r.User {
			return u, nil
		}
	}
	if r.User != "" {
		return spec.User{}, fmt.Errorf("%s: %w: user %q is not in users (%s); the server admits no one else — pass one of them with --user", r.SpecFile, ErrSpec, r.User, strings.Join(names, ", "))
	}
	for _, u := range r.App.Users {
		if u.Sudo {
			return u, nil
		}
	}
	if len(r.App.Users) == 0 {
		return spec.User{}, fmt.Errorf("%s: %w: the spec has no users, so nobody can log in", r.SpecFile, ErrSpec)
	}
	return r.App.Users[0], nil
}

// readKey reads the private key and checks that the user's entry in the
// spec lists its public half: otherwise sshd would refuse it after minutes
// of booting.
func readKey(path string, user spec.User, specFile string) (ssh.Signer, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no --key FILE: give the private key of a user the spec lists (the server accepts no password)", ErrKey)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w: %v", path, ErrKey, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var pass *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pass):
		return nil, fmt.Errorf("--key %s: %w: it is protected by a passphrase, which test-boot cannot ask for — use a key without one (ssh-keygen -t ed25519 -N '' -f FILE, listed in the spec)", path, ErrKey)
	case err != nil:
		return nil, fmt.Errorf("--key %s: %w: not a private key (%v) — give the private half (not the .pub) in OpenSSH or PEM format", path, ErrKey, err)
	}
	pub := signer.PublicKey().Marshal()
	for _, line := range user.SSHKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err == nil && bytes.Equal(k.Marshal(), pub) {
			return signer, nil
		}
	}
	return nil, fmt.Errorf("--key %s: %w: its public key (%s) is not among %s's ssh_keys in %s, so the server would refuse it — pass that user's key, or another user with --user",
		path, ErrKey, ssh.FingerprintSHA256(signer.PublicKey()), user.Name, specFile)
}

// lookTool finds a program on PATH, naming the Debian package that has it.
func lookTool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on PATH — install it (Debian and Ubuntu: apt-get install %s)", ErrTool, name, pkg)
	}
	return p, nil
}

// virtualSize asks qemu-img for the size of the disk an image holds.
func virtualSize(qemuImg, path, format string) (int64, error) {
	out, err := exec.Command(qemuImg, "info", "--output=json", "-f", format, path).Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info %s: %w%s", path, err, stderrOf(err))
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.VirtualSize <= 0 {
		return 0, fmt.Errorf("qemu-img info %s: no virtual size in %q (%v)", path, out, err)
	}
	return info.VirtualSize, nil
}
