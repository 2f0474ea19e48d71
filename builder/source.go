package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// LocalSpec is the spec kiln reads when no file is given and it exists.
const LocalSpec = "appliance.yaml"

// SpecSource is a spec's name and bytes, and how it was chosen.
type SpecSource struct {
	File     string
	Data     []byte
	Embedded bool
}

// ResolveSpec reads the spec named by path; with an empty path it reads
// ./appliance.yaml when present, else the embedded default appliance.
func ResolveSpec(path string) (SpecSource, error) {
	if path == "" {
		data, err := os.ReadFile(LocalSpec)
		switch {
		case err == nil:
			return SpecSource{File: LocalSpec, Data: data}, nil
		case !errors.Is(err, fs.ErrNotExist):
			return SpecSource{}, fmt.Errorf("reading %s: %w", LocalSpec, err)
		}
		return SpecSource{File: DefaultSpecName, Data: DefaultSpec, Embedded: true}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return SpecSource{}, fmt.Errorf("reading the appliance spec: %w", err)
	}
	return SpecSource{File: path, Data: data}, nil
}
