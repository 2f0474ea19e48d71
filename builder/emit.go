package builder

import (
	"encoding/json"
	"sort"

	"github.com/kiln-dev/kiln/units"
)

// butane writes the plan as a Butane document.
func (p *plan) butane() ([]byte, error) {
	c := p.butaneConfig()
	return marshalButane(&c)
}

// digest identifies the plan's configuration: the sha256 of its Butane
// document in canonical JSON (cheaper than YAML, and as exact).
func (p *plan) digest() ([]byte, error) {
	c := p.butaneConfig()
	return json.Marshal(&c)
}

// butaneConfig is the plan as a Butane document.
func (p *plan) butaneConfig() butaneConfig {
	c := butaneConfig{Variant: ButaneVariant, Version: ButaneVersion}
	c.Passwd.Users = p.Users
	c.Storage = butaneStorage{Disks: p.Storage.Disks, Filesystems: p.Storage.Filesystems}
	dirs := append([]string{}, p.Dirs...)
	sort.Strings(dirs)
	for _, d := range dirs {
		c.Storage.Directories = append(c.Storage.Directories, butaneDirectory{Path: d, Mode: 0o755})
	}
	var files []butaneFile
	for _, f := range p.Files {
		bf := butaneFile{Path: f.Path, Mode: butaneMode(f.Mode), Contents: butaneContents{Inline: text(f.Contents)}}
		if f.User != "" {
			bf.User = &butaneOwner{Name: f.User}
		}
		if f.Group != "" {
			bf.Group = &butaneOwner{Name: f.Group}
		}
		files = append(files, bf)
	}
	t := true
	for _, u := range p.Units {
		if u.IsQuadlet() {
			files = append(files, butaneFile{Path: units.QuadletDir + "/" + u.Name, Mode: 0o644, Contents: butaneContents{Inline: text(u.Contents)}})
			continue
		}
		bu := butaneUnit{Name: u.Name, Contents: text(u.Contents)}
		if u.Enabled {
			bu.Enabled = &t
		}
		c.Systemd.Units = append(c.Systemd.Units, bu)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	c.Storage.Files = files
	return c
}
