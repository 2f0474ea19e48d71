package images

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kiln-dev/kiln/images/internal/ext4"
)

// Where FCOS keeps its per-platform console settings on the boot
// partition. coreos-assembler copies platforms.json there (the image's
// architecture's part of fedora-coreos-config's platforms.yaml), and
// `coreos-installer install --platform` applies it; kiln does the same
// when it turns the metal image into a cloud image.
const (
	platformsJSONPath = "/coreos/platforms.json"
	// console.cfg is sourced by grub.cfg on current images; older ones
	// carry the marked block in grub.cfg itself.
	grubConsolePath = "/grub2/console.cfg"
	grubCfgPath     = "/grub2/grub.cfg"
)

// ErrNoConsoleSettings means a platform needs GRUB console settings and
// the image has no place marked for them.
var ErrNoConsoleSettings = errors.New("no GRUB console settings block on the boot partition")

// platformSpec is one platform's entry in platforms.json.
type platformSpec struct {
	GrubCommands    []string `json:"grub_commands"`
	KernelArguments []string `json:"kernel_arguments"`
}

// consoleBlockRE is coreos-installer's marker block in GRUB's console
// settings (GRUB_CFG_CONSOLE_SETTINGS_RE in its src/install.rs).
var consoleBlockRE = regexp.MustCompile(`(\n# CONSOLE-SETTINGS-START\n)(?:[^\n]*\n)*?(# CONSOLE-SETTINGS-END\n)`)

// platformEdit is what applying a platform changes on the boot partition.
type platformEdit struct {
	// Entry is the new BLS entry.
	Entry []byte
	// GrubPath and Grub, when set, replace a GRUB console file.
	GrubPath string
	Grub     []byte
}

// readPlatforms reads platforms.json; an image without one (older FCOS)
// has no per-platform settings, as coreos-installer assumes too.
func readPlatforms(fs *ext4.FS) (map[string]platformSpec, error) {
	in, err := fs.Lookup(platformsJSONPath)
	if errors.Is(err, ext4.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(in)
	if err != nil {
		return nil, err
	}
	var table map[string]platformSpec
	if err := json.Unmarshal(data, &table); err != nil {
		return nil, fmt.Errorf("%s: %w", platformsJSONPath, err)
	}
	return table, nil
}

// applyPlatform computes the BLS entry and GRUB console settings for
// platform id, as `coreos-installer install --platform` does: the
// platform id replaces metal's; metal's console arguments are removed and
// the platform's appended; the GRUB console block is replaced when the
// platform's commands differ from metal's. grub is the current console
// file (console.cfg, or grub.cfg on older images), or nil.
func applyPlatform(entry []byte, table map[string]platformSpec, id string, grubPath string, grub []byte) (*platformEdit, error) {
	newEntry, err := setPlatform(entry, id)
	if err != nil {
		return nil, err
	}
	e := &platformEdit{Entry: newEntry}
	if id == "metal" {
		return e, nil
	}
	spec, metal := table[id], table["metal"]
	if len(spec.KernelArguments) > 0 || len(metal.KernelArguments) > 0 {
		e.Entry = editOptions(e.Entry, metal.KernelArguments, spec.KernelArguments)
	}
	if !slices.Equal(spec.GrubCommands, metal.GrubCommands) {
		if grub == nil {
			return nil, fmt.Errorf("%w: platform %s needs them, and there is neither %s nor %s", ErrNoConsoleSettings, id, grubConsolePath, grubCfgPath)
		}
		if !consoleBlockRE.Match(grub) {
			return nil, fmt.Errorf("%w: %s has no CONSOLE-SETTINGS-START/END lines", ErrNoConsoleSettings, grubPath)
		}
		cmds := strings.Join(spec.GrubCommands, "\n")
		if cmds != "" {
			cmds += "\n"
		}
		loc := consoleBlockRE.FindSubmatchIndex(grub)
		var b bytes.Buffer
		b.Write(grub[:loc[3]]) // up to the end of the START line
		b.WriteString(cmds)
		b.Write(grub[loc[4]:]) // from the END line on
		e.GrubPath, e.Grub = grubPath, b.Bytes()
	}
	return e, nil
}

// editOptions deletes then appends kernel arguments on the BLS options
// line, with coreos-installer's KargsEditor semantics (whole words).
func editOptions(entry []byte, del, add []string) []byte {
	lines := bytes.Split(entry, []byte("\n"))
	for i, line := range lines {
		rest, ok := bytes.CutPrefix(line, []byte("options "))
		if !ok {
			continue
		}
		args := " " + string(rest) + " "
		for _, d := range del {
			args = strings.ReplaceAll(args, " "+strings.TrimSpace(d)+" ", " ")
		}
		for _, a := range add {
			args += strings.TrimSpace(a) + " "
		}
		lines[i] = []byte("options " + strings.TrimSpace(args))
	}
	return bytes.Join(lines, []byte("\n"))
}

// readGrubConsole returns the GRUB file holding the console block and its
// contents, preferring console.cfg as coreos-installer does; nil when
// neither exists.
func readGrubConsole(fs *ext4.FS) (string, *ext4.Inode, []byte, error) {
	for _, p := range []string{grubConsolePath, grubCfgPath} {
		in, err := fs.Lookup(p)
		if errors.Is(err, ext4.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", nil, nil, err
		}
		data, err := fs.ReadFile(in)
		return p, in, data, err
	}
	return "", nil, nil, nil
}
