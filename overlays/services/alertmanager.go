package services

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// AlertmanagerConfig is the Alertmanager configuration: where Prometheus's
// alerts go, how they are grouped and how often they repeat.
type AlertmanagerConfig struct {
	// Port Alertmanager listens on (UI and API).
	Port int
	// ExternalURL is the address notifications link back to. The UI is on
	// loopback only, so the default is what an SSH tunnel shows.
	ExternalURL string
	// GroupBy are the labels that put alerts into one notification.
	GroupBy []string
	// GroupWait, GroupInterval and RepeatInterval, in Prometheus duration
	// syntax: how long a new group waits for more alerts, how long before a
	// changed group is notified again, and how long before an unchanged
	// firing group is repeated.
	GroupWait, GroupInterval, RepeatInterval string
	// Receivers are the people and systems notified; with none, alerts are
	// only visible in Alertmanager's UI.
	Receivers []AlertReceiver
	// CredentialsDir is the server directory holding the receivers'
	// passwords and tokens, mounted read-only into the container. It is on
	// the data filesystem: the operator provisions its files once and
	// rebuilds keep them; they are never part of the image.
	CredentialsDir string
	// DataDir holds Alertmanager's silences and notification log, on the
	// data filesystem.
	DataDir string
}

// AlertReceiver is one destination of notifications. Exactly one of Email,
// Webhook, Slack and Ntfy is set.
type AlertReceiver struct {
	// Name identifies the receiver in routes and in the UI.
	Name string
	// Severities are the severity labels routed to this receiver; empty
	// routes every alert.
	Severities []string
	// RepeatInterval overrides the global repeat interval when not empty.
	RepeatInterval string
	// Email sends mail through an SMTP relay.
	Email *EmailReceiver
	// Webhook posts Alertmanager's JSON to a URL.
	Webhook *WebhookReceiver
	// Slack posts to a Slack-compatible incoming webhook.
	Slack *SlackReceiver
	// Ntfy publishes to an ntfy topic.
	Ntfy *NtfyReceiver
}

// EmailReceiver sends mail through an SMTP relay.
type EmailReceiver struct {
	// To are the recipients' addresses.
	To []string
	// From is the sender address.
	From string
	// Smarthost is the relay as host:port.
	Smarthost string
	// Username logs in to the relay; empty sends without authentication.
	Username string
	// PasswordFile names the file in CredentialsDir holding the relay's
	// password.
	PasswordFile string
}

// WebhookReceiver posts Alertmanager's JSON to a URL.
type WebhookReceiver struct {
	// URL receives the POST.
	URL string
	// TokenFile optionally names a file in CredentialsDir whose content is
	// sent as a bearer token.
	TokenFile string
}

// SlackReceiver posts to a Slack-compatible incoming webhook (Slack,
// Mattermost, Rocket.Chat). The webhook URL is a credential, so it is read
// from a file.
type SlackReceiver struct {
	// URLFile names the file in CredentialsDir holding the webhook URL.
	URLFile string
	// Channel overrides the webhook's channel when not empty.
	Channel string
}

// NtfyReceiver publishes to an ntfy topic (Alertmanager's webhook JSON).
type NtfyReceiver struct {
	// URL is the topic's URL, e.g. https://ntfy.sh/clipper-alerts.
	URL string
	// TokenFile optionally names a file in CredentialsDir holding an ntfy
	// access token.
	TokenFile string
}

// Paths of the Alertmanager files, on the server and in the container.
const (
	AlertmanagerConfigDir        = ConfigRoot + "/alertmanager"
	alertmanagerConfMount        = "/etc/alertmanager"
	alertmanagerDataMount        = "/alertmanager"
	alertmanagerCredentialsMount = "/etc/alertmanager-credentials"
	alertmanagerConfFileName     = "alertmanager.yml"
	// AlertmanagerUIReceiver is the receiver that notifies nobody: alerts
	// no route sends elsewhere stay visible in the UI only.
	AlertmanagerUIReceiver = "kiln-ui-only"
)

// Severities the alert rules use, most urgent first.
var Severities = []string{"critical", "warning"}

// Validate checks the configuration without rendering it.
func (c AlertmanagerConfig) Validate() error {
	if err := checkPort("port", c.Port); err != nil {
		return err
	}
	if err := checkURL("external_url", c.ExternalURL); err != nil {
		return err
	}
	if len(c.GroupBy) == 0 {
		return overlays.Bad("group_by", nil, ErrEmptyField)
	}
	for i, l := range c.GroupBy {
		if err := checkLabelName(fmt.Sprintf("group_by[%d]", i), l); err != nil {
			return err
		}
	}
	for _, d := range []struct{ name, v string }{
		{"group_wait", c.GroupWait}, {"group_interval", c.GroupInterval}, {"repeat_interval", c.RepeatInterval},
	} {
		if _, err := parsePromDuration(d.v); err != nil {
			return overlays.Bad(d.name, d.v, err)
		}
	}
	if err := checkPlain("credentials_dir", c.CredentialsDir); err != nil {
		return err
	}
	seen := map[string]bool{AlertmanagerUIReceiver: true}
	for i, r := range c.Receivers {
		field := fmt.Sprintf("receivers[%d]", i)
		if err := r.validate(field); err != nil {
			return err
		}
		if seen[r.Name] {
			return bad(field+".name", r.Name, "appears twice or is reserved", ErrInvalidValue)
		}
		seen[r.Name] = true
	}
	return nil
}

// validate checks the receiver at path (receivers[i]).
func (r AlertReceiver) validate(path string) error {
	field := func(f string) string { return path + "." + f }
	if err := checkPlain(field("name"), r.Name); err != nil {
		return err
	}
	for i, s := range r.Severities {
		if !contains(Severities, s) {
			return bad(fmt.Sprintf("%s[%d]", field("severities"), i), s, "want one of "+strings.Join(Severities, ", "), ErrInvalidValue)
		}
	}
	if r.RepeatInterval != "" {
		if _, err := parsePromDuration(r.RepeatInterval); err != nil {
			return overlays.Bad(field("repeat_interval"), r.RepeatInterval, err)
		}
	}
	n := 0
	for _, set := range []bool{r.Email != nil, r.Webhook != nil, r.Slack != nil, r.Ntfy != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return bad(path, r.Name, fmt.Sprintf("has %d kinds, want exactly one of email, webhook, slack, ntfy", n), ErrInvalidValue)
	}
	switch {
	case r.Email != nil:
		e := r.Email
		if len(e.To) == 0 {
			return overlays.Bad(field("email.to"), nil, ErrEmptyField)
		}
		for i, a := range e.To {
			if err := checkAddress(fmt.Sprintf("%s[%d]", field("email.to"), i), a); err != nil {
				return err
			}
		}
		if err := checkAddress(field("email.from"), e.From); err != nil {
			return err
		}
		if err := checkHostPort(field("email.smarthost"), e.Smarthost); err != nil {
			return err
		}
		if e.Username != "" {
			if err := checkPlain(field("email.username"), e.Username); err != nil {
				return err
			}
			if err := checkFileName(field("email.password_file"), e.PasswordFile); err != nil {
				return err
			}
		}
	case r.Webhook != nil:
		if err := checkURL(field("webhook.url"), r.Webhook.URL); err != nil {
			return err
		}
		if r.Webhook.TokenFile != "" {
			return checkFileName(field("webhook.token_file"), r.Webhook.TokenFile)
		}
	case r.Slack != nil:
		if err := checkFileName(field("slack.url_file"), r.Slack.URLFile); err != nil {
			return err
		}
		if r.Slack.Channel != "" {
			return checkPlain(field("slack.channel"), r.Slack.Channel)
		}
	case r.Ntfy != nil:
		if err := checkURL(field("ntfy.url"), r.Ntfy.URL); err != nil {
			return err
		}
		if r.Ntfy.TokenFile != "" {
			return checkFileName(field("ntfy.token_file"), r.Ntfy.TokenFile)
		}
	}
	return nil
}

// alertmanagerRoute is one child route of the generated tree.
type alertmanagerRoute struct {
	Receiver, Matcher, RepeatInterval string
}

// Alertmanager renders alertmanager.yml.
func Alertmanager(cfg AlertmanagerConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	var routes []alertmanagerRoute
	for _, r := range cfg.Receivers {
		m := ""
		if len(r.Severities) > 0 {
			m = fmt.Sprintf(`severity=~"%s"`, strings.Join(r.Severities, "|"))
		}
		routes = append(routes, alertmanagerRoute{Receiver: r.Name, Matcher: m, RepeatInterval: r.RepeatInterval})
	}
	data := struct {
		AlertmanagerConfig
		UIReceiver       string
		Routes           []alertmanagerRoute
		CredentialsMount string
	}{cfg, AlertmanagerUIReceiver, routes, alertmanagerCredentialsMount}
	files, err := renderFiles(data, tmplFile{"alertmanager.yml.tmpl", AlertmanagerConfigDir + "/" + alertmanagerConfFileName})
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: files, Container: alertmanagerContainer(cfg),
		DataDirs: []overlays.DataDir{{Path: cfg.CredentialsDir}, {Path: cfg.DataDir}}}, nil
}

// alertmanagerContainer is the Alertmanager container. Clustering is
// off (an empty cluster address): a single appliance has no peers, and the
// gossip port would otherwise listen on every interface of the container.
func alertmanagerContainer(cfg AlertmanagerConfig) units.Container {
	return units.Container{
		Exec: []string{
			"--config.file=" + alertmanagerConfMount + "/" + alertmanagerConfFileName,
			"--storage.path=" + alertmanagerDataMount,
			fmt.Sprintf("--web.listen-address=:%d", cfg.Port),
			"--web.external-url=" + cfg.ExternalURL,
			"--cluster.listen-address=",
		},
		Mounts: []units.Mount{
			{Source: AlertmanagerConfigDir, Target: alertmanagerConfMount, ReadOnly: true},
			{Source: cfg.CredentialsDir, Target: alertmanagerCredentialsMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: alertmanagerDataMount},
		},
		Health: httpHealth(cfg.Port, "/-/ready"),
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func checkURL(field, v string) error {
	if err := checkPlain(field, v); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad(field, v, "want an http or https URL", ErrInvalidValue)
	}
	return nil
}

func checkAddress(field, v string) error {
	if err := checkPlain(field, v); err != nil {
		return err
	}
	if err := valid.Email(v); err != nil {
		return &overlays.FieldError{Field: field, Err: fmt.Errorf("%w: %w", err, ErrInvalidValue)}
	}
	return nil
}

func checkHostPort(field, v string) error {
	if err := checkPlain(field, v); err != nil {
		return err
	}
	i := strings.LastIndexByte(v, ':')
	if i <= 0 || i == len(v)-1 {
		return bad(field, v, "want host:port, e.g. smtp.example.com:587", ErrInvalidValue)
	}
	return nil
}

// checkFileName accepts a plain file name: credentials live directly in
// the credentials directory, so a path could only point outside it.
func checkFileName(field, v string) error {
	if err := checkPlain(field, v); err != nil {
		return err
	}
	if strings.Contains(v, "/") || v == "." || v == ".." {
		return bad(field, v, "want a file name in the credentials directory, without slashes", ErrInvalidValue)
	}
	return nil
}

func checkLabelName(field, v string) error {
	if v == "" {
		return overlays.Bad(field, nil, ErrEmptyField)
	}
	for i, r := range v {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return bad(field, v, "not a Prometheus label name", ErrInvalidValue)
		}
	}
	return nil
}
