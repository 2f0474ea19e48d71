package builder

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// WriteOutputs writes <name>-<version>.bu and .ign into dir. Both are
// written to temporary files first and renamed only when both are
// complete, so a failure never leaves one without the other or a
// half-written file.
func WriteOutputs(dir string, r *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	outs := []struct {
		name string
		data []byte
	}{
		{r.OutputName() + ".bu", r.Butane},
		{r.OutputName() + ".ign", r.Ignition},
	}
	var pending []*renameio.PendingFile
	cleanup := func() {
		for _, p := range pending {
			_ = p.Cleanup()
		}
	}
	for _, o := range outs {
		p, err := renameio.NewPendingFile(filepath.Join(dir, o.name), renameio.WithPermissions(0o644))
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("writing %s: %w", o.name, err)
		}
		pending = append(pending, p)
		if _, err := p.Write(o.data); err != nil {
			cleanup()
			return nil, fmt.Errorf("writing %s: %w", o.name, err)
		}
	}
	var paths []string
	for i, p := range pending {
		if err := p.CloseAtomicallyReplace(); err != nil {
			cleanup()
			return paths, fmt.Errorf("writing %s: %w", outs[i].name, err)
		}
		paths = append(paths, filepath.Join(dir, outs[i].name))
	}
	return paths, nil
}
