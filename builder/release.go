package builder

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays"
)

// Release is /etc/kiln/release.json on the server: which appliance, which
// version, and which configuration it was built from.
type Release struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Description  string `json:"description,omitempty"`
	ConfigDigest string `json:"config_digest"`
}

// exampleKey is the placeholder key `kiln init` writes. Nobody holds its
// private half; a spec that still carries it would lock everyone out.
const exampleKey = "AAAAC3NzaC1lZDI1NTE5AAAAIKilnExampleKeyReplaceMeWithYoursxxxxxxxxxxx"

func exampleKeyWarnings(app *spec.Appliance, src *spec.Source) spec.Diagnostics {
	var ds spec.Diagnostics
	for i, u := range app.Users {
		for j, k := range u.SSHKeys {
			if strings.Contains(k, exampleKey) {
				p := fmt.Sprintf("users[%d].ssh_keys[%d]", i, j)
				ds = append(ds, spec.Diagnostic{Severity: spec.Warning, File: src.File, Pos: src.Pos(p), Path: p,
					Msg: "this is the example key; nobody can log in with it", Fix: "replace it with your public key (cat ~/.ssh/id_ed25519.pub)"})
			}
		}
	}
	return ds
}

// releaseFiles are the release file and the login banner that shows it.
func releaseFiles(app *spec.Appliance, digest string) []overlays.File {
	rel, _ := json.MarshalIndent(Release{Name: app.Name, Version: app.Version, Description: app.Description, ConfigDigest: digest}, "", "  ")
	motd := fmt.Sprintf("%s %s — built by kiln\nconfig %s\nThis server is immutable: change the appliance spec and rebuild.\n", app.Name, app.Version, digest)
	motd += alertsMotd(app)
	return []overlays.File{
		{Path: ReleasePath, Mode: 0o644, Contents: append(rel, '\n')},
		{Path: MotdPath, Mode: 0o644, Contents: []byte(motd)},
	}
}

// alertsMotd tells whoever logs in that alerts reach nobody, when the
// appliance runs Alertmanager without a receiver: the login banner is the
// one place an operator is sure to look.
func alertsMotd(app *spec.Appliance) string {
	if len(app.Alerts.Receivers) > 0 {
		return ""
	}
	for _, s := range app.Services {
		if s.Kind == spec.KindAlertmanager {
			port := 9093
			if len(s.Ports) > 0 {
				port = s.Ports[0].Port
			}
			return fmt.Sprintf("No alert receiver is configured: alerts are only visible in Alertmanager's UI\n"+
				"(ssh -L %d:127.0.0.1:%d, then http://127.0.0.1:%d). Add `alerts.receivers` to the spec and rebuild.\n", port, port, port)
		}
	}
	return ""
}
