package services

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
	"gopkg.in/yaml.v3"
)

// alertmanagerWithReceivers is Clipper's Alertmanager with one receiver of
// each kind, routed by severity.
func alertmanagerWithReceivers() AlertmanagerConfig {
	c := clipperAlertmanager()
	c.Receivers = []AlertReceiver{
		{Name: "ops-email", Severities: []string{"critical", "warning"}, Email: &EmailReceiver{
			To: []string{"ops@example.com", "oncall@example.com"}, From: "alerts@example.com",
			Smarthost: "smtp.example.com:587", Username: "alerts@example.com", PasswordFile: "smtp-password"}},
		{Name: "pager", Severities: []string{"critical"}, RepeatInterval: "1h", Webhook: &WebhookReceiver{
			URL: "https://events.example.com/alertmanager", TokenFile: "pager-token"}},
		{Name: "chat", Slack: &SlackReceiver{URLFile: "slack-url", Channel: "#ops"}},
		{Name: "phone", Severities: []string{"critical"}, Ntfy: &NtfyReceiver{URL: "https://ntfy.sh/clipper-alerts", TokenFile: "ntfy-token"}},
	}
	return c
}

func TestAlertmanagerGolden(t *testing.T) {
	// Clipper configures no receiver: alerts show in the UI only.
	none, err := filesOf(Alertmanager(clipperAlertmanager()))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "alertmanager", none)
	files, err := filesOf(Alertmanager(alertmanagerWithReceivers()))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "golden", "alertmanager", "alertmanager.yml.receivers"), files[0].Contents)
}

// TestAlertmanagerAmtool judges every shape of generated configuration with
// the real Alertmanager's checker, and tests the routing with amtool's
// route tester: a critical alert reaches every receiver that takes
// critical ones, a warning only those that take warnings, and nothing
// reaches anyone when no receiver is configured.
func TestAlertmanagerAmtool(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg               AlertmanagerConfig
		critical, warning string
	}{
		"receivers":    {alertmanagerWithReceivers(), "ops-email,pager,chat,phone", "ops-email,chat"},
		"no receivers": {clipperAlertmanager(), AlertmanagerUIReceiver, AlertmanagerUIReceiver},
	} {
		t.Run(name, func(t *testing.T) {
			files, err := filesOf(Alertmanager(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			dir := writeUnder(t, t.TempDir(), AlertmanagerConfigDir, files)
			conf := filepath.Join(dir, "alertmanager.yml")
			out := runTool(t, dir, "amtool", "check-config", conf)
			if !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "3 inhibit rules") {
				t.Errorf("amtool check-config:\n%s", out)
			}
			for sev, want := range map[string]string{"critical": tc.critical, "warning": tc.warning} {
				// stdout only: amtool warns on stderr that the file
				// overrides its default server URL.
				res, err := judge.Exec(t, judge.Command{Name: "amtool", Args: []string{"config", "routes", "test", "--config.file=" + conf,
					"--verify.receivers=" + want, "alertname=DiskSpaceLow", "severity=" + sev}})
				if err != nil {
					t.Errorf("severity %s: %v\n%s", sev, err, res.Combined())
				}
				out := res.Stdout
				if strings.TrimSpace(out) != want {
					t.Errorf("severity %s goes to %q, want %q", sev, strings.TrimSpace(out), want)
				}
			}
		})
	}
}

// TestAlertmanagerNoSecretInConfig: credentials are read from files in the
// credentials directory, which the container mounts read-only.
func TestAlertmanagerNoSecretInConfig(t *testing.T) {
	cfg := alertmanagerWithReceivers()
	files, err := filesOf(Alertmanager(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Receivers []struct {
			Name         string
			EmailConfigs []map[string]any `yaml:"email_configs"`
			SlackConfigs []map[string]any `yaml:"slack_configs"`
		}
	}
	if err := yaml.Unmarshal(files[0].Contents, &conf); err != nil {
		t.Fatal(err)
	}
	for _, r := range conf.Receivers {
		for _, e := range r.EmailConfigs {
			if _, ok := e["auth_password"]; ok || e["auth_password_file"] != alertmanagerCredentialsMount+"/smtp-password" {
				t.Errorf("%s: email password not from the credentials file: %v", r.Name, e)
			}
		}
		for _, s := range r.SlackConfigs {
			if _, ok := s["api_url"]; ok || s["api_url_file"] != alertmanagerCredentialsMount+"/slack-url" {
				t.Errorf("%s: slack URL not from the credentials file: %v", r.Name, s)
			}
		}
	}
	rt := mustRender(t)(Alertmanager(cfg)).Container
	found := false
	for _, m := range rt.Mounts {
		found = found || (m.Source == cfg.CredentialsDir && m.Target == alertmanagerCredentialsMount && m.ReadOnly)
	}
	if !found {
		t.Errorf("credentials directory is not mounted read-only: %+v", rt.Mounts)
	}
}

func TestAlertmanagerValidate(t *testing.T) {
	for name, mutate := range map[string]func(*AlertmanagerConfig){
		"bad severity":        func(c *AlertmanagerConfig) { c.Receivers[0].Severities = []string{"page"} },
		"two kinds":           func(c *AlertmanagerConfig) { c.Receivers[0].Webhook = &WebhookReceiver{URL: "https://x.example"} },
		"no kind":             func(c *AlertmanagerConfig) { c.Receivers[2].Slack = nil },
		"reserved name":       func(c *AlertmanagerConfig) { c.Receivers[1].Name = AlertmanagerUIReceiver },
		"duplicate name":      func(c *AlertmanagerConfig) { c.Receivers[1].Name = c.Receivers[0].Name },
		"password path":       func(c *AlertmanagerConfig) { c.Receivers[0].Email.PasswordFile = "../secrets/x" },
		"no password file":    func(c *AlertmanagerConfig) { c.Receivers[0].Email.PasswordFile = "" },
		"display name":        func(c *AlertmanagerConfig) { c.Receivers[0].Email.To = []string{"Ops <ops@example.com>"} },
		"smarthost sans port": func(c *AlertmanagerConfig) { c.Receivers[0].Email.Smarthost = "smtp.example.com" },
		"ftp webhook":         func(c *AlertmanagerConfig) { c.Receivers[1].Webhook.URL = "ftp://x.example/" },
		"bad repeat":          func(c *AlertmanagerConfig) { c.Receivers[1].RepeatInterval = "1 hour" },
		"bad group label":     func(c *AlertmanagerConfig) { c.GroupBy = []string{"job-name"} },
		"bad group wait":      func(c *AlertmanagerConfig) { c.GroupWait = "soon" },
		"bad port":            func(c *AlertmanagerConfig) { c.Port = 70000 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := alertmanagerWithReceivers()
			mutate(&cfg)
			_, err := filesOf(Alertmanager(cfg))
			if !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrEmptyField) && !errors.Is(err, ErrInvalidPort) {
				t.Fatalf("got %v, want a validation error", err)
			}
		})
	}
}

// writeFile writes a test file or fails the test.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
