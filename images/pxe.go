package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var pxeTemplates = template.Must(template.ParseFS(templateFS, "templates/*.tmpl"))

// PXEOptions says where the live kernel, initramfs and rootfs are served.
type PXEOptions struct {
	// BaseURL is where the bundle's files are served from (http or https).
	// Files copied from the base PXE directory and the config initrd are
	// referenced below it. Empty means relative names (TFTP root).
	BaseURL string
	// KernelURL, InitramfsURL and RootfsURL override the URLs of the live
	// artifacts when no base PXE directory is copied (e.g. the FCOS
	// mirror's URLs from stream metadata).
	KernelURL, InitramfsURL, RootfsURL string
}

// pxeFiles are the live artifacts found in a base PXE directory.
type pxeFiles struct {
	Kernel, Initramfs, Rootfs string
}

// findPXEFiles picks the live kernel, initramfs and rootfs by the names
// FCOS gives them (…-live-kernel…, …-live-initramfs…, …-live-rootfs…).
func findPXEFiles(dir string) (pxeFiles, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return pxeFiles{}, err
	}
	var p pxeFiles
	for _, e := range ents {
		n := e.Name()
		// The base cache keeps detached signatures and records beside the
		// files; they carry the same names plus a suffix.
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".sig") || strings.HasSuffix(n, ".json") {
			continue
		}
		switch {
		case strings.Contains(n, "-live-kernel"):
			p.Kernel = n
		case strings.Contains(n, "-live-initramfs"):
			p.Initramfs = n
		case strings.Contains(n, "-live-rootfs"):
			p.Rootfs = n
		}
	}
	if p.Kernel == "" || p.Initramfs == "" || p.Rootfs == "" {
		return p, fmt.Errorf("%w: %s lacks a live kernel, initramfs or rootfs", ErrMissingBase, dir)
	}
	return p, nil
}

// pxeView is what the PXE templates render.
type pxeView struct {
	Name, Version                                       string
	KernelURL, InitramfsURL, RootfsURL, ConfigURL, Args string
	IPXEArgs                                            string
	GrubKernel, GrubInitramfs, GrubRootfs, GrubConfig   string
	// InstallDevice is set when the boot installs to a disk.
	InstallDevice string
}

// isHTTP reports whether u is an http or https URL, the only kind FCOS's
// initramfs fetches coreos.live.rootfs_url from.
func isHTTP(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// joinURL places name below base (or returns name when base is empty).
func joinURL(base, name string) string {
	if base == "" {
		return name
	}
	return strings.TrimRight(base, "/") + "/" + name
}

// grubPath turns a URL into GRUB's (http,host)/path device syntax.
func grubPath(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "/" + strings.TrimPrefix(u, "/")
	}
	return "(" + p.Scheme + "," + p.Host + ")" + p.EscapedPath()
}

// buildPXE writes the PXE bundle into stage and returns the artifacts
// (names relative to stage) it created, each hashed as it was written.
func buildPXE(ctx context.Context, stage string, req *Request, initrd []byte) ([]Artifact, error) {
	prefix := req.Name + "-" + req.Version + "-pxe"
	configName := prefix + ".ign.img"
	var arts []Artifact
	write := func(name string, data []byte) error {
		p := filepath.Join(stage, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		s := sha256.Sum256(data)
		arts = append(arts, Artifact{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])})
		return writeSynced(p, data)
	}
	if err := write(configName, initrd); err != nil {
		return nil, err
	}
	o := req.PXE
	kernel, initramfs, rootfs := o.KernelURL, o.InitramfsURL, o.RootfsURL
	if req.BasePXE != "" {
		files, err := findPXEFiles(req.BasePXE)
		if err != nil {
			return nil, err
		}
		for _, n := range []string{files.Kernel, files.Initramfs, files.Rootfs} {
			a, err := copyFileHashed(ctx, filepath.Join(stage, n), filepath.Join(req.BasePXE, n))
			if err != nil {
				return nil, err
			}
			a.Name = n
			arts = append(arts, a)
		}
		kernel = joinURL(o.BaseURL, files.Kernel)
		initramfs = joinURL(o.BaseURL, files.Initramfs)
		rootfs = joinURL(o.BaseURL, files.Rootfs)
	}
	if kernel == "" || initramfs == "" || rootfs == "" {
		return nil, fmt.Errorf("%w: PXE needs a base PXE directory or kernel, initramfs and rootfs URLs", ErrMissingBase)
	}
	// FCOS's initramfs fetches coreos.live.rootfs_url with curl and takes
	// http(s) only; a bare file name or tftp:// stops the boot. Such a
	// rootfs is served as an extra initrd instead, which FCOS also reads
	// (slower, and it needs more RAM).
	v := pxeView{
		Name: req.Name, Version: req.Version,
		KernelURL: kernel, InitramfsURL: initramfs, ConfigURL: joinURL(o.BaseURL, configName),
		InstallDevice: req.InstallDevice,
	}
	args := []string{"ignition.firstboot", "ignition.platform.id=metal"}
	initrds := []string{"main"}
	switch {
	case isHTTP(rootfs):
		args = append([]string{"coreos.live.rootfs_url=" + rootfs}, args...)
	case o.RootfsURL != "" && req.BasePXE == "":
		return nil, fmt.Errorf("%w: rootfs URL %q: FCOS fetches the live rootfs over http or https only — give an http(s) URL, or a base PXE directory so the rootfs is loaded as an initrd", ErrBadRequest, rootfs)
	default:
		v.RootfsURL = rootfs
		initrds = append(initrds, "rootfs")
	}
	initrds = append(initrds, "config")
	args = append(args, req.KernelArgs...)
	v.Args = strings.Join(args, " ")
	// UEFI iPXE hands the kernel only the initrds its command line names.
	named := make([]string, 0, len(initrds)+len(args))
	for _, n := range initrds {
		named = append(named, "initrd="+n)
	}
	args = append(named, args...)
	v.IPXEArgs = strings.Join(args, " ")
	v.GrubKernel, v.GrubInitramfs, v.GrubConfig = grubPath(v.KernelURL), grubPath(v.InitramfsURL), grubPath(v.ConfigURL)
	if v.RootfsURL != "" {
		v.GrubRootfs = grubPath(v.RootfsURL)
	}
	for tmpl, name := range map[string]string{"pxe.ipxe.tmpl": prefix + ".ipxe", "pxe.grub.cfg.tmpl": prefix + ".grub.cfg"} {
		var b bytes.Buffer
		if err := pxeTemplates.ExecuteTemplate(&b, tmpl, v); err != nil {
			return nil, err
		}
		if err := write(name, b.Bytes()); err != nil {
			return nil, err
		}
	}
	// Matchbox serves the same boot through its profile/group API.
	id := req.Name + "-" + req.Version
	title := req.Name + " " + req.Version
	if req.InstallDevice != "" {
		title += " (installs to " + req.InstallDevice + ")"
	}
	mbInitrds := []string{"--name main " + initramfs}
	if v.RootfsURL != "" {
		mbInitrds = append(mbInitrds, "--name rootfs "+v.RootfsURL)
	}
	profile := map[string]any{
		"id":   id,
		"name": title,
		"boot": map[string]any{
			"kernel": kernel,
			"initrd": append(mbInitrds, "--name config "+v.ConfigURL),
			"args":   args,
		},
	}
	group := map[string]any{"id": req.Name, "name": req.Name, "profile": id}
	for name, obj := range map[string]any{"matchbox/profiles/" + id + ".json": profile, "matchbox/groups/" + req.Name + ".json": group} {
		b, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := write(name, append(b, '\n')); err != nil {
			return nil, err
		}
	}
	sort.Slice(arts, func(i, j int) bool { return arts[i].Name < arts[j].Name })
	return arts, nil
}

// copyFileHashed copies src to a new file dst, sparsely, hashing the
// bytes on the way.
func copyFileHashed(ctx context.Context, dst, src string) (Artifact, error) {
	in, err := os.Open(src)
	if err != nil {
		return Artifact{}, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return Artifact{}, err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return Artifact{}, err
	}
	defer out.Close()
	sum, err := copyHashed(ctx, out, fileSource{f: in, size: st.Size()}, st.Size(), 0, 0, nil, nil)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Size: st.Size(), SHA256: sum}, out.Close()
}

// writeSynced writes a small file and syncs it.
func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// pxeWriter writes the PXE bundle: the config initrd (the target's
// artifact), the boot scripts, Matchbox's profile and group, and the live
// files when there is a base PXE directory.
func pxeWriter(b *builder, _ Target, _ string, _ Compression) ([]Artifact, error) {
	initrd, err := ConfigInitrd(b.req.liveConfig())
	if err != nil {
		return nil, err
	}
	arts, err := buildPXE(b.ctx, b.stage, b.req, initrd)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, a := range arts {
		sums[a.Name] = a.SHA256
	}
	// The base PXE files were copied whole: their digests are the
	// copies', so the base directory is not read a second time.
	for _, u := range b.bases {
		if u.kind == PXEBase && u.sha256 == "" {
			if files, err := findPXEFiles(u.path); err == nil {
				u.sha256 = listingDigest(map[string]string{files.Kernel: sums[files.Kernel], files.Initramfs: sums[files.Initramfs], files.Rootfs: sums[files.Rootfs]})
			}
		}
	}
	return arts, nil
}

// pxeExtra lists the files pxeWriter writes besides the config initrd.
func pxeExtra(r *Request) ([]string, error) {
	p := r.Name + "-" + r.Version
	names := []string{p + "-pxe.ipxe", p + "-pxe.grub.cfg", "matchbox/profiles/" + p + ".json", "matchbox/groups/" + r.Name + ".json"}
	if r.BasePXE != "" {
		files, err := findPXEFiles(r.BasePXE)
		if err != nil {
			return nil, err
		}
		names = append(names, files.Kernel, files.Initramfs, files.Rootfs)
	}
	return names, nil
}

// isInitrd recognises a config initrd: xz holding a newc archive.
func isInitrd(head []byte, f *os.File, _ int64) bool {
	return sniffCompression(head) == CompressXZ && isConfigInitrd(f)
}

// readInitrd reads the config out of a config initrd.
func readInitrd(_ string, f *os.File, size int64) ([]byte, string, error) {
	cfg, err := readConfigInitrd(io.NewSectionReader(f, 0, size))
	return cfg, "", err
}
