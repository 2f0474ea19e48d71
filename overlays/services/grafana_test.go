package services

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// grafanaDatasources mirrors Grafana's datasource provisioning schema
// (apiVersion 1) for the keys kiln writes.
type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string `yaml:"name"`
		UID       string `yaml:"uid"`
		Type      string `yaml:"type"`
		Access    string `yaml:"access"`
		URL       string `yaml:"url"`
		IsDefault bool   `yaml:"isDefault"`
		Editable  bool   `yaml:"editable"`
		JSONData  struct {
			TimeInterval string `yaml:"timeInterval"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

// grafanaProviders mirrors Grafana's dashboard provider schema.
type grafanaProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Folder                string `yaml:"folder"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type grafanaDatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	RefID        string               `json:"refId"`
	Datasource   grafanaDatasourceRef `json:"datasource"`
	Expr         string               `json:"expr"`
	LegendFormat string               `json:"legendFormat"`
}

// grafanaDashboard is the subset of the dashboard JSON model kiln writes.
type grafanaDashboard struct {
	UID           string            `json:"uid"`
	Title         string            `json:"title"`
	Tags          []string          `json:"tags"`
	Timezone      string            `json:"timezone"`
	SchemaVersion int               `json:"schemaVersion"`
	Version       int               `json:"version"`
	Editable      bool              `json:"editable"`
	Refresh       string            `json:"refresh"`
	Time          map[string]string `json:"time"`
	Panels        []struct {
		ID          int                  `json:"id"`
		Type        string               `json:"type"`
		Title       string               `json:"title"`
		GridPos     map[string]int       `json:"gridPos"`
		Datasource  grafanaDatasourceRef `json:"datasource"`
		FieldConfig json.RawMessage      `json:"fieldConfig"`
		Targets     []grafanaTarget      `json:"targets"`
	} `json:"panels"`
}

func TestGrafana(t *testing.T) {
	cfg := clipperGrafana()
	files, err := filesOf(Grafana(cfg))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "grafana", files)

	var ds grafanaDatasources
	for _, f := range files {
		if strings.HasSuffix(f.Path, "/datasources/kiln.yaml") {
			decodeStrict(t, f.Contents, &ds)
		}
	}
	urls := map[string]string{}
	uids := map[string]string{}
	for _, d := range ds.Datasources {
		urls[d.Type] = d.URL
		uids[d.UID] = d.Type
	}
	if ds.APIVersion != 1 || urls["prometheus"] != "http://prometheus:9090" || urls["loki"] != "http://loki:3100" {
		t.Errorf("datasources %+v", ds)
	}

	var prov grafanaProviders
	for _, f := range files {
		if strings.HasSuffix(f.Path, "/dashboards/kiln.yaml") {
			decodeStrict(t, f.Contents, &prov)
		}
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path != grafanaDashboardsMount {
		t.Fatalf("dashboard provider %+v", prov)
	}
	// The provider's path must be where the dashboards are mounted.
	rt := mustRender(t)(Grafana(cfg)).Container
	mounted := false
	for _, m := range rt.Mounts {
		if m.Target == prov.Providers[0].Options.Path && m.Source == grafanaDashboardsDir && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("dashboards are not mounted at %s: %+v", prov.Providers[0].Options.Path, rt.Mounts)
	}

	dash := decodeDashboard(t, fileByName(t, files, "clipper-overview.json").Contents)
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("empty dashboard %+v", dash)
	}
	var exprs []string
	for _, p := range dash.Panels {
		refs := []grafanaDatasourceRef{p.Datasource}
		for _, tg := range p.Targets {
			refs = append(refs, tg.Datasource)
		}
		for _, ref := range refs {
			if uids[ref.UID] != ref.Type {
				t.Errorf("panel %q names datasource %s/%s, which is not provisioned", p.Title, ref.Type, ref.UID)
			}
		}
		for _, tg := range p.Targets {
			if tg.Datasource.Type == "prometheus" {
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	checkPromQL(t, exprs)
}

func decodeDashboard(t *testing.T, data []byte) grafanaDashboard {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d grafanaDashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// checkPromQL has promtool parse the dashboard's queries by wrapping each
// in a recording rule: there is no offline PromQL checker otherwise.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(e)
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, filepath.Dir(path), "promtool", "check", "rules", path)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(out, want) {
		t.Errorf("promtool: %s", out)
	}
}

func TestGrafanaEnv(t *testing.T) {
	env := GrafanaEnv(clipperGrafana())
	for k, want := range map[string]string{
		"GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana-password",
		"GF_SERVER_HTTP_PORT":              "3000",
		"GF_USERS_ALLOW_SIGN_UP":           "false",
		"GF_AUTH_ANONYMOUS_ENABLED":        "false",
		"GF_ANALYTICS_REPORTING_ENABLED":   "false",
		"GF_ANALYTICS_CHECK_FOR_UPDATES":   "false",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for k, v := range env {
		if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "__FILE") {
			t.Errorf("%s=%s: a password must come from a file", k, v)
		}
	}
}
