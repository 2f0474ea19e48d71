package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	Name, Version                            string
	KernelURL, InitramfsURL, ConfigURL, Args string
	GrubKernel, GrubInitramfs, GrubConfig    string
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
	args := append([]string{"coreos.live.rootfs_url=" + rootfs, "ignition.firstboot", "ignition.platform.id=metal"}, req.KernelArgs...)
	v := pxeView{
		Name: req.Name, Version: req.Version,
		KernelURL: kernel, InitramfsURL: initramfs, ConfigURL: joinURL(o.BaseURL, configName),
		Args: strings.Join(args, " "),
	}
	v.GrubKernel, v.GrubInitramfs, v.GrubConfig = grubPath(v.KernelURL), grubPath(v.InitramfsURL), grubPath(v.ConfigURL)
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
	profile := map[string]any{
		"id":   id,
		"name": req.Name + " " + req.Version,
		"boot": map[string]any{
			"kernel": kernel,
			"initrd": []string{"--name main " + initramfs, "--name config " + v.ConfigURL},
			"args":   append([]string{"initrd=main", "initrd=config"}, args...),
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
	sum, err := copyHashed(ctx, out, fileSource{in, st.Size()}, st.Size(), 0, 0, nil, nil)
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
