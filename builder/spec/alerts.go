package spec

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"github.com/kiln-dev/kiln/internal/valid"
)

// Alerts configures Alertmanager: who is notified of which alerts, and how
// often. The alertmanager service must be part of the appliance.
type Alerts struct {
	// GroupBy are the labels whose alerts share one notification (default
	// alertname, appliance, job).
	GroupBy []string `yaml:"group_by,omitempty" json:"group_by,omitempty"`
	// GroupWait is how long a new group waits for more alerts (default 30s).
	GroupWait string `yaml:"group_wait,omitempty" json:"group_wait,omitempty"`
	// GroupInterval is how long before a changed group is notified again
	// (default 5m).
	GroupInterval string `yaml:"group_interval,omitempty" json:"group_interval,omitempty"`
	// RepeatInterval is how long before a still-firing group is sent again
	// (default 4h).
	RepeatInterval string `yaml:"repeat_interval,omitempty" json:"repeat_interval,omitempty"`
	// Receivers are notified of every alert whose severity they list. With
	// none, alerts are only visible in Alertmanager's UI.
	Receivers []Receiver `yaml:"receivers,omitempty" json:"receivers,omitempty"`
}

// Receiver is one destination of notifications: exactly one of email,
// webhook, slack and ntfy. They are values, not pointers, so that the
// strict loader checks their fields like every other part of the spec; an
// empty one counts as absent.
type Receiver struct {
	// Name of the receiver.
	Name string `yaml:"name" json:"name"`
	// Severities routed to this receiver (critical, warning); default all.
	Severities []string `yaml:"severities,omitempty" json:"severities,omitempty" jsonschema:"enum=critical,enum=warning"`
	// RepeatInterval overrides alerts.repeat_interval for this receiver.
	RepeatInterval string `yaml:"repeat_interval,omitempty" json:"repeat_interval,omitempty"`
	// Email sends mail through an SMTP relay.
	Email EmailReceiver `yaml:"email,omitempty" json:"email,omitempty"`
	// Webhook posts Alertmanager's JSON to a URL.
	Webhook WebhookReceiver `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	// Slack posts to a Slack-compatible incoming webhook (Slack,
	// Mattermost, Rocket.Chat).
	Slack SlackReceiver `yaml:"slack,omitempty" json:"slack,omitempty"`
	// Ntfy publishes to an ntfy topic.
	Ntfy NtfyReceiver `yaml:"ntfy,omitempty" json:"ntfy,omitempty"`
}

// EmailReceiver sends alerts by mail. The password is read on the server
// from a file the operator provisions; it is never in the spec or image.
type EmailReceiver struct {
	// To lists the recipients.
	To []string `yaml:"to" json:"to"`
	// From is the sender address.
	From string `yaml:"from" json:"from"`
	// Smarthost is the SMTP relay as host:port (587 uses STARTTLS).
	Smarthost string `yaml:"smarthost" json:"smarthost"`
	// Username logs in to the relay; omit it for a relay without login.
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// PasswordFile names the file holding the relay's password in
	// /var/lib/kiln/alertmanager/credentials/ on the server.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
}

// WebhookReceiver posts alerts as JSON.
type WebhookReceiver struct {
	// URL receives the POST.
	URL string `yaml:"url" json:"url"`
	// TokenFile names a file in the credentials directory whose content is
	// sent as a bearer token.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
}

// SlackReceiver posts to a Slack-compatible incoming webhook, whose URL is
// a credential and so lives in a file on the server.
type SlackReceiver struct {
	// URLFile names the file in the credentials directory holding the
	// webhook URL.
	URLFile string `yaml:"url_file" json:"url_file"`
	// Channel overrides the webhook's default channel.
	Channel string `yaml:"channel,omitempty" json:"channel,omitempty"`
}

// NtfyReceiver publishes to an ntfy topic.
type NtfyReceiver struct {
	// URL of the topic, e.g. https://ntfy.sh/clipper-alerts.
	URL string `yaml:"url" json:"url"`
	// TokenFile names a file in the credentials directory holding an
	// access token.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
}

// HasEmail reports whether the receiver sends mail.
func (r *Receiver) HasEmail() bool { return !reflect.ValueOf(r.Email).IsZero() }

// HasWebhook reports whether the receiver posts to a webhook.
func (r *Receiver) HasWebhook() bool { return r.Webhook != WebhookReceiver{} }

// HasSlack reports whether the receiver posts to a Slack-compatible hook.
func (r *Receiver) HasSlack() bool { return r.Slack != SlackReceiver{} }

// HasNtfy reports whether the receiver publishes to ntfy.
func (r *Receiver) HasNtfy() bool { return r.Ntfy != NtfyReceiver{} }

// AlertSeverities are the severity labels kiln's alert rules carry.
var AlertSeverities = []string{"critical", "warning"}

var (
	labelRE    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	promDurRE  = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	fileNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	hostPortRE = regexp.MustCompile(`^[A-Za-z0-9.-]+:[0-9]{1,5}$`)
)

// exporterTargets are the kinds each exporter kind reads from.
var exporterTargets = map[string]string{KindPostgresExporter: KindPostgres, KindPgBouncerExporter: KindPgBouncer, KindRedisExporter: KindRedis, KindNginxExporter: KindEdge}

// NginxStatusPort is where the edge serves its status page, on loopback,
// when the appliance runs an nginx-exporter.
const NginxStatusPort = 8089

// alerts checks the alerts block and warns when alerts would reach nobody.
func (v *validator) alerts(a *Appliance) {
	kinds := map[string]bool{}
	for _, s := range a.Services {
		kinds[s.Kind] = true
	}
	for i, s := range a.Services {
		if target, ok := exporterTargets[s.Kind]; ok && !kinds[target] {
			v.errorf(fmt.Sprintf("services[%d].kind", i), fmt.Sprintf("add a service of kind %s, or remove this exporter", target),
				"a %s exports a %s service, and the appliance has none", s.Kind, target)
		}
		for j, pt := range s.Ports {
			if kinds[KindNginxExporter] && pt.Port == NginxStatusPort {
				v.errorf(fmt.Sprintf("services[%d].ports[%d].port", i, j), "choose another port",
					"port %d on loopback is the edge's status page, which the nginx-exporter reads", NginxStatusPort)
			}
		}
	}
	al := &a.Alerts
	amIndex := -1
	for i, s := range a.Services {
		if s.Kind == KindAlertmanager {
			amIndex = i
			break
		}
	}
	if amIndex < 0 {
		if len(al.Receivers) > 0 {
			v.errorf("alerts.receivers", "add a service of kind alertmanager (image quay.io/prometheus/alertmanager), or remove the receivers",
				"receivers are configured but no alertmanager service would send to them")
		}
		return
	}
	if len(al.Receivers) == 0 {
		p := fmt.Sprintf("services[%d].kind", amIndex)
		for _, written := range []string{"alerts", "alerts.receivers"} {
			if v.src.Has(written) {
				p = written
			}
		}
		v.warnf(p, "add `alerts: {receivers: [...]}` with an email, webhook, slack or ntfy receiver",
			"no alert receiver: alerts are only visible in Alertmanager's UI (ssh -L 9093:127.0.0.1:9093)")
	}
	for i, l := range al.GroupBy {
		if !labelRE.MatchString(l) {
			v.errorf(fmt.Sprintf("alerts.group_by[%d]", i), "use a Prometheus label name such as alertname or job", "%q is not a label name", l)
		}
	}
	for _, d := range []struct{ field, val string }{{"group_wait", al.GroupWait}, {"group_interval", al.GroupInterval}, {"repeat_interval", al.RepeatInterval}} {
		if d.val != "" && !promDurRE.MatchString(d.val) {
			v.errorf("alerts."+d.field, "write a duration such as 30s, 5m or 4h", "%q is not a duration", d.val)
		}
	}
	v.names("alerts.receivers", len(al.Receivers), func(i int) string { return al.Receivers[i].Name })
	for i := range al.Receivers {
		v.receiver(fmt.Sprintf("alerts.receivers[%d]", i), &al.Receivers[i])
	}
}

func (v *validator) receiver(p string, r *Receiver) {
	for j, s := range r.Severities {
		if !containsString(AlertSeverities, s) {
			v.errorf(fmt.Sprintf("%s.severities[%d]", p, j), "use "+strings.Join(AlertSeverities, " or "), "unknown severity %q", s)
		}
	}
	if r.RepeatInterval != "" && !promDurRE.MatchString(r.RepeatInterval) {
		v.errorf(p+".repeat_interval", "write a duration such as 1h", "%q is not a duration", r.RepeatInterval)
	}
	n := 0
	for _, set := range []bool{r.HasEmail(), r.HasWebhook(), r.HasSlack(), r.HasNtfy()} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.errorf(p, "give exactly one of email, webhook, slack or ntfy (use one receiver per destination)", "receiver %q has %d destinations", r.Name, n)
		return
	}
	credFile := func(fp, name string, required bool) {
		switch {
		case name == "" && required:
			v.errorf(fp, "name the file in /var/lib/kiln/alertmanager/credentials/ that holds it", "missing")
		case name != "" && (!fileNameRE.MatchString(name) || name == "." || name == ".."):
			v.errorf(fp, "give a file name (no slashes) in /var/lib/kiln/alertmanager/credentials/", "%q is not a file name", name)
		}
	}
	checkURL := func(fp, u string) {
		pu, err := url.Parse(u)
		if u == "" || err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || strings.ContainsAny(u, " \"'\\") {
			v.errorf(fp, "write an http(s) URL such as https://ntfy.sh/my-topic", "%q is not a URL", u)
		}
	}
	switch {
	case r.HasEmail():
		e := r.Email
		if len(e.To) == 0 {
			v.errorf(p+".email.to", "list at least one recipient", "no recipient")
		}
		for j, a := range e.To {
			v.address(fmt.Sprintf("%s.email.to[%d]", p, j), a)
		}
		v.address(p+".email.from", e.From)
		if !hostPortRE.MatchString(e.Smarthost) {
			v.errorf(p+".email.smarthost", "write the relay as host:port, e.g. smtp.example.com:587", "%q is not host:port", e.Smarthost)
		}
		if e.Username != "" {
			credFile(p+".email.password_file", e.PasswordFile, true)
		} else if e.PasswordFile != "" {
			v.errorf(p+".email.username", "add the relay's login name", "a password file without a username is never used")
		}
	case r.HasWebhook():
		checkURL(p+".webhook.url", r.Webhook.URL)
		credFile(p+".webhook.token_file", r.Webhook.TokenFile, false)
	case r.HasSlack():
		credFile(p+".slack.url_file", r.Slack.URLFile, true)
		if strings.ContainsAny(r.Slack.Channel, " \"'\\") {
			v.errorf(p+".slack.channel", "write the channel as #name", "%q is not a channel", r.Slack.Channel)
		}
	case r.HasNtfy():
		checkURL(p+".ntfy.url", r.Ntfy.URL)
		credFile(p+".ntfy.token_file", r.Ntfy.TokenFile, false)
	}
}

func (v *validator) address(p, a string) {
	v.check(p, valid.Email(a))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
