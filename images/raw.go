package images

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"time"

	diskfs "github.com/diskfs/go-diskfs"

	"github.com/kiln-dev/kiln/images/internal/ext4"
)

// Paths on the boot filesystem, as Fedora CoreOS's initramfs expects them.
const (
	bootConfigDir  = "/ignition"
	bootConfigPath = "/ignition/config.ign"
	firstbootPath  = "/ignition.firstboot"
	blsDir         = "/loader/entries"
	// go-diskfs takes fs.ValidPath names, which have no leading slash.
	dfsConfigDir  = "ignition"
	dfsConfigPath = "ignition/config.ign"
)

// platformRE matches the platform argument on a BLS options line.
var platformRE = regexp.MustCompile(`(^|\s)ignition\.platform\.id=\S+`)

// embedDisk writes the Ignition config into the boot filesystem of the
// FCOS disk image at diskPath (a private copy, never the base), sets the
// platform id and pins every timestamp it touched to epoch.
func embedDisk(diskPath string, config []byte, platformID string, epoch time.Time) error {
	f, err := os.OpenFile(diskPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	boot, err := findBoot(f)
	if err != nil {
		return err
	}
	fs, err := ext4.Open(f, boot.Start)
	if err != nil {
		return fmt.Errorf("boot partition: %w", err)
	}
	// Every check happens before the first write so a refusal leaves the
	// copy as the base was.
	if err := fs.CheckWritable(); err != nil {
		return fmt.Errorf("boot partition: %w", err)
	}
	if ok, err := fs.Exists(firstbootPath); err != nil {
		return err
	} else if !ok {
		return ErrNoFirstboot
	}
	// An existing config is refused rather than replaced: go-diskfs cannot
	// remove or truncate a file without corrupting ext4, and a base that
	// already carries a config is not a pristine FCOS image anyway.
	if ok, err := fs.Exists(bootConfigPath); err != nil {
		return err
	} else if ok {
		return ErrConfigExists
	}
	root, err := fs.Lookup("/")
	if err != nil {
		return err
	}
	if ok, err := fs.CanAddEntry(root, dfsConfigDir); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: the boot filesystem's root directory has no room for %s", ext4.ErrUnsupported, dfsConfigDir)
	}
	entryIno, entry, err := findBLSEntry(fs)
	if err != nil {
		return err
	}
	// The platform's console arguments and GRUB settings come from the
	// image's own platforms.json, as coreos-installer --platform applies
	// them, so a provider's serial console shows the first boot.
	table, err := readPlatforms(fs)
	if err != nil {
		return err
	}
	grubPath, grubIn, grub, err := readGrubConsole(fs)
	if err != nil {
		return err
	}
	edit, err := applyPlatform(entry, table, platformID, grubPath, grub)
	if err != nil {
		return err
	}
	newEntry := edit.Entry
	bs := fs.BlockSize()
	blocks := func(n int) int64 { return (int64(n) + bs - 1) / bs }
	if blocks(len(newEntry)) != blocks(len(entry)) {
		return fmt.Errorf("BLS entry: %w", ext4.ErrNoRoom)
	}
	var grubIno uint32
	if edit.Grub != nil {
		if blocks(len(edit.Grub)) != blocks(len(grub)) {
			return fmt.Errorf("%s: %w", edit.GrubPath, ext4.ErrNoRoom)
		}
		grubIno = grubIn.Num
	}
	// go-diskfs writes at most four extents per file reliably; keep well
	// inside the filesystem's free space and that limit.
	if max := 4 * 32768 * bs / 2; int64(len(config)) > max {
		return fmt.Errorf("%w: %d bytes, at most %d on a %d-byte-block boot filesystem", ErrConfigTooLarge, len(config), max, bs)
	}
	if err := f.Close(); err != nil {
		return err
	}

	if err := writeConfigFile(diskPath, boot.Index, config); err != nil {
		return err
	}

	f, err = os.OpenFile(diskPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fs, err = ext4.Open(f, boot.Start); err != nil {
		return err
	}
	for _, p := range []string{"/", bootConfigDir, bootConfigPath} {
		in, err := fs.Lookup(p)
		if err != nil {
			return fmt.Errorf("after embedding: %w", err)
		}
		in.SetTimes(epoch)
		if err := fs.WriteInode(f, in); err != nil {
			return err
		}
	}
	in, err := fs.Lookup(bootConfigPath)
	if err != nil {
		return err
	}
	// More than four extents would need an extent tree block, which
	// go-diskfs does not write reliably.
	if ext, err := fs.Extents(in); err != nil {
		return err
	} else if len(ext) > 4 {
		return fmt.Errorf("%w: config landed in %d extents", ErrConfigTooLarge, len(ext))
	}
	got, err := fs.ReadFile(in)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, config) {
		return fmt.Errorf("embedded config reads back differently (%d bytes, want %d)", len(got), len(config))
	}
	entryIn, err := fs.ReadInode(entryIno)
	if err != nil {
		return err
	}
	if err := fs.RewriteInPlace(f, entryIn, newEntry); err != nil {
		return fmt.Errorf("BLS entry: %w", err)
	}
	if edit.Grub != nil {
		grubIn, err := fs.ReadInode(grubIno)
		if err != nil {
			return err
		}
		if err := fs.RewriteInPlace(f, grubIn, edit.Grub); err != nil {
			return fmt.Errorf("%s: %w", edit.GrubPath, err)
		}
	}
	// No fsync here: diskPath is a staged copy that its writer syncs once
	// complete (or a temporary head that is never kept).
	return f.Close()
}

// writeConfigFile creates ignition/config.ign through go-diskfs, using only
// the operations measured to leave ext4 clean: Mkdir, a single Write of a
// new file, Chmod and Chown.
func writeConfigFile(diskPath string, part int, config []byte) error {
	d, err := diskfs.Open(diskPath, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		return fmt.Errorf("open disk: %w", err)
	}
	// go-diskfs panics on a second Close, so close exactly once.
	closed := false
	defer func() {
		if !closed {
			d.Close()
		}
	}()
	fsys, err := d.GetFilesystem(part)
	if err != nil {
		return fmt.Errorf("open boot filesystem: %w", err)
	}
	if err := fsys.Mkdir(dfsConfigDir); err != nil {
		return fmt.Errorf("mkdir %s: %w", dfsConfigDir, err)
	}
	if err := fsys.Chmod(dfsConfigDir, 0o700); err != nil {
		return err
	}
	if err := fsys.Chown(dfsConfigDir, 0, 0); err != nil {
		return err
	}
	fh, err := fsys.OpenFile(dfsConfigPath, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("create %s: %w", dfsConfigPath, err)
	}
	n, err := fh.Write(config)
	if err != nil {
		fh.Close()
		return fmt.Errorf("write %s: %w", dfsConfigPath, err)
	}
	if n != len(config) {
		fh.Close()
		return fmt.Errorf("write %s: short write %d of %d", dfsConfigPath, n, len(config))
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := fsys.Chmod(dfsConfigPath, 0o600); err != nil {
		return err
	}
	if err := fsys.Chown(dfsConfigPath, 0, 0); err != nil {
		return err
	}
	closed = true
	return d.Close()
}

// findBLSEntry returns the inode and contents of the BLS entry carrying
// ignition.platform.id (FCOS has exactly one on a fresh image).
func findBLSEntry(fs *ext4.FS) (uint32, []byte, error) {
	dir, err := fs.Lookup(blsDir)
	if err != nil {
		if errors.Is(err, ext4.ErrNotFound) {
			return 0, nil, ErrNoBLSEntry
		}
		return 0, nil, err
	}
	names, err := fs.ReadDirNames(dir)
	if err != nil {
		return 0, nil, err
	}
	for _, name := range names {
		if path.Ext(name) != ".conf" {
			continue
		}
		in, err := fs.Lookup(path.Join(blsDir, name))
		if err != nil {
			return 0, nil, err
		}
		data, err := fs.ReadFile(in)
		if err != nil {
			return 0, nil, err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("options ")) && platformRE.Match(line) {
				return in.Num, data, nil
			}
		}
	}
	return 0, nil, ErrNoBLSEntry
}

// setPlatform replaces the platform id on the options line.
func setPlatform(entry []byte, id string) ([]byte, error) {
	lines := bytes.Split(entry, []byte("\n"))
	found := false
	for i, line := range lines {
		if !bytes.HasPrefix(line, []byte("options ")) || !platformRE.Match(line) {
			continue
		}
		lines[i] = platformRE.ReplaceAllFunc(line, func(m []byte) []byte {
			lead := m[:len(m)-len(bytes.TrimLeft(m, " \t"))]
			return append(append([]byte(nil), lead...), "ignition.platform.id="+id...)
		})
		found = true
	}
	if !found {
		return nil, ErrNoBLSEntry
	}
	return bytes.Join(lines, []byte("\n")), nil
}
