package builder

import (
	"fmt"
	"strconv"

	ign "github.com/coreos/ignition/v2/config/v3_5"
	igntypes "github.com/coreos/ignition/v2/config/v3_5/types"
)

// ignitionFile is one file of an Ignition config with its contents
// decoded from the data URL.
type ignitionFile struct {
	Path string
	// Mode is nil when the config leaves it to Ignition's default.
	Mode *int
	// Owner is "user:group" by name or id; empty parts mean root.
	Owner    string
	Contents []byte
}

// parseIgnition reads an Ignition config (spec 3.0 to 3.5, as older kiln
// releases wrote) and decodes its files. It is the one place kiln reads
// Ignition back: diff and the tests use it.
func parseIgnition(raw []byte) (igntypes.Config, []ignitionFile, error) {
	cfg, _, err := ign.ParseCompatibleVersion(raw)
	if err != nil {
		return cfg, nil, fmt.Errorf("%w: %w", ErrIgnition, err)
	}
	files := make([]ignitionFile, 0, len(cfg.Storage.Files))
	for _, f := range cfg.Storage.Files {
		var data []byte
		if f.Contents.Source != nil {
			data, err = decodeDataURL(*f.Contents.Source)
			if err != nil {
				return cfg, nil, fmt.Errorf("%s: %w", f.Path, err)
			}
		}
		files = append(files, ignitionFile{Path: f.Path, Mode: f.Mode,
			Owner: nodeOwner(f.User.ID, f.User.Name) + ":" + nodeOwner(f.Group.ID, f.Group.Name), Contents: data})
	}
	return cfg, files, nil
}

// nodeOwner names a user or group by name, else by id; empty is root.
func nodeOwner(id *int, name *string) string {
	switch {
	case name != nil:
		return *name
	case id != nil:
		return strconv.Itoa(*id)
	}
	return ""
}
