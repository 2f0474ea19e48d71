package images

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files Build writes beside the artifacts.
const (
	ManifestName = "manifest.json"
	SumsName     = "SHA256SUMS"
)

// writeManifest writes manifest.json and SHA256SUMS (sha256sum's format,
// so `sha256sum -c SHA256SUMS` verifies the outputs) into dir.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var s strings.Builder
	for _, a := range m.Artifacts {
		fmt.Fprintf(&s, "%s  %s\n", a.SHA256, a.Name)
	}
	return os.WriteFile(filepath.Join(dir, SumsName), []byte(s.String()), 0o644)
}
