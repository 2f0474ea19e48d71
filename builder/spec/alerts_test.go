package spec

import (
	"strings"
	"testing"
)

// withAlertmanager is the minimal spec plus an alertmanager service
// (services[2], line 21); alerts appended to it start at line 30.
var withAlertmanager = minimal[:strings.Index(minimal, "backup:")] + `  - name: alertmanager
    kind: alertmanager
    image: quay.io/prometheus/alertmanager:v0.28.1
    ports: [{port: 9093}]
` + minimal[strings.Index(minimal, "backup:"):]

const receivers = `alerts:
  receivers:
    - name: ops
      severities: [critical]
      email:
        to: [ops@example.com]
        from: alerts@example.com
        smarthost: smtp.example.com:587
        username: alerts
        password_file: smtp-password
    - name: phone
      ntfy: {url: "https://ntfy.sh/web-alerts"}
`

// TestNoReceiverWarns: an Alertmanager that notifies nobody is valid but
// warned about, at the alertmanager service's kind or at the alerts block
// when the spec has one.
func TestNoReceiverWarns(t *testing.T) {
	for name, tc := range map[string]struct{ src, at, path string }{
		"no alerts block":  {withAlertmanager, "w.yaml:22:11: warning: ", "services[2].kind"},
		"empty receivers":  {withAlertmanager + "alerts:\n  receivers: []\n", "w.yaml:31:14: warning: ", "alerts.receivers"},
		"receivers absent": {withAlertmanager + "alerts:\n  repeat_interval: 1h\n", "w.yaml:31:3: warning: ", "alerts"},
	} {
		t.Run(name, func(t *testing.T) {
			app, _, ds := Load("w.yaml", []byte(tc.src))
			if app == nil {
				t.Fatalf("spec rejected:\n%s", diagLines(ds))
			}
			for _, d := range ds {
				if d.Path == tc.path && strings.HasPrefix(d.String(), tc.at) && strings.Contains(d.Msg, "only visible in Alertmanager's UI") {
					return
				}
			}
			t.Errorf("no warning %s%s; got:\n%s", tc.at, tc.path, diagLines(ds))
		})
	}
	app, _, ds := Load("r.yaml", []byte(withAlertmanager+receivers))
	if app == nil {
		t.Fatalf("spec with receivers rejected:\n%s", diagLines(ds))
	}
	for _, d := range ds {
		if strings.Contains(d.Msg, "Alertmanager's UI") {
			t.Errorf("warned although receivers exist: %s", d)
		}
	}
}

// TestBadReceivers: each mistake is an error at the user's line with the
// field path and a fix.
func TestBadReceivers(t *testing.T) {
	spec := withAlertmanager + receivers
	for _, tc := range []struct {
		name, old, new, pos, path, msg string
	}{
		{"unknown severity", "severities: [critical]", "severities: [page]", "33:20", "alerts.receivers[0].severities[0]", `unknown severity "page"`},
		{"bad recipient", "to: [ops@example.com]", "to: [ops]", "35:14", "alerts.receivers[0].email.to[0]", "not an email address"},
		{"smarthost without port", "smarthost: smtp.example.com:587", "smarthost: smtp.example.com", "37:20", "alerts.receivers[0].email.smarthost", "not host:port"},
		{"password path", "password_file: smtp-password", "password_file: /etc/shadow", "39:24", "alerts.receivers[0].email.password_file", "not a file name"},
		{"password inline is unknown", "password_file: smtp-password", "password: hunter2", "39:9", "alerts.receivers[0].email.password", "unknown field"},
		{"username without password file", "        password_file: smtp-password\n", "", "35:9", "alerts.receivers[0].email.password_file", "missing"},
		{"two destinations", `ntfy: {url: "https://ntfy.sh/web-alerts"}`, `ntfy: {url: "https://ntfy.sh/web-alerts"}` + "\n      webhook: {url: \"https://x.example\"}", "40:7", "alerts.receivers[1]", "has 2 destinations"},
		{"no destination", `      ntfy: {url: "https://ntfy.sh/web-alerts"}` + "\n", "", "40:7", "alerts.receivers[1]", "has 0 destinations"},
		{"ntfy not a url", `url: "https://ntfy.sh/web-alerts"`, `url: "ntfy.sh/web-alerts"`, "41:19", "alerts.receivers[1].ntfy.url", "not a URL"},
		{"duplicate receiver", "    - name: phone", "    - name: ops", "40:13", "alerts.receivers[1].name", `duplicate name "ops"`},
		{"bad duration", "alerts:\n", "alerts:\n  group_wait: soon\n", "31:15", "alerts.group_wait", "not a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(spec, tc.old) {
				t.Fatalf("%q not in the spec", tc.old)
			}
			src := strings.Replace(spec, tc.old, tc.new, 1)
			app, _, ds := Load("bad.yaml", []byte(src))
			if app != nil {
				t.Fatalf("spec accepted\n%s", src)
			}
			for _, d := range ds {
				if d.Severity == Error && d.Path == tc.path && strings.HasPrefix(d.String(), "bad.yaml:"+tc.pos+": ") && strings.Contains(d.Msg, tc.msg) && d.Fix != "" {
					return
				}
			}
			t.Errorf("no error at %s %s containing %q; got:\n%s", tc.pos, tc.path, tc.msg, diagLines(ds))
		})
	}
	// Receivers without an alertmanager service would notify nobody.
	app, _, ds := Load("bad.yaml", []byte(minimal+receivers))
	if app != nil || !strings.Contains(diagLines(ds), "alerts.receivers: receivers are configured but no alertmanager service") {
		t.Errorf("receivers without alertmanager accepted:\n%s", diagLines(ds))
	}
}

// TestExporterWithoutServer: an exporter needs the server it exports.
func TestExporterWithoutServer(t *testing.T) {
	src := strings.Replace(minimal, "backup:", `  - name: cache-exporter
    kind: redis-exporter
    image: docker.io/oliver006/redis_exporter:v1.74.0-alpine
    ports: [{port: 9121}]
backup:`, 1)
	app, _, ds := Load("bad.yaml", []byte(src))
	if app != nil || !strings.Contains(diagLines(ds), "bad.yaml:22:11: services[2].kind: a redis-exporter exports a redis service, and the appliance has none") {
		t.Errorf("redis-exporter without redis accepted:\n%s", diagLines(ds))
	}
}

// TestNginxStatusPortTaken: with an nginx-exporter, the edge's status port
// is not free for a service.
func TestNginxStatusPortTaken(t *testing.T) {
	src := strings.Replace(minimal, "backup:", `  - name: edge
    kind: edge
    image: docker.io/library/nginx:1.28.0-alpine
    ports: [{port: 443, public: true}]
  - name: edge-exporter
    kind: nginx-exporter
    image: docker.io/nginx/nginx-prometheus-exporter:1.4.2
    ports: [{port: 9113}]
backup:`, 1)
	src = strings.Replace(src, "ports: [{port: 8080}]", "ports: [{port: 8089}]", 1)
	app, _, ds := Load("bad.yaml", []byte(src))
	if app != nil || !strings.Contains(diagLines(ds), "bad.yaml:19:20: services[1].ports[0].port: port 8089 on loopback is the edge's status page") {
		t.Errorf("service on the status port accepted:\n%s", diagLines(ds))
	}
}
