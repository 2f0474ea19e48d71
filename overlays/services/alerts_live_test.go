package services

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// Test parameters of the live alert test. The rules and routes are kiln's;
// only the intervals are shortened so the test takes seconds, not minutes.
const (
	liveScrape     = time.Second     // scrape_interval and evaluation_interval
	liveDownFor    = 4 * time.Second // ServiceDown's for:
	liveHostFor    = time.Second     // HostDown's for:, three scrapes earlier
	liveGroupWait  = 2 * time.Second // Alertmanager's group_wait
	liveGroupEvery = time.Second     // group_interval: how soon the resolution follows
	// liveSlack covers process scheduling on a loaded CI machine.
	liveSlack = 5 * time.Second
)

// webhookMessage is the part of Alertmanager's webhook payload the test
// reads.
type webhookMessage struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type notification struct {
	at  time.Time
	msg webhookMessage
}

// target is a scrape target that can go down and come back on the same
// port.
type target struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func (tg *target) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	tg.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE clipper_test_requests_total counter\nclipper_test_requests_total 1")
	})}
	go srv.Serve(l)
	tg.mu.Lock()
	tg.srv = srv
	tg.mu.Unlock()
}

func (tg *target) stop() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.srv != nil {
		tg.srv.Close()
		tg.srv = nil
	}
}

// TestAlertReachesReceiver runs the real Prometheus with kiln's rules and
// the real Alertmanager with kiln's configuration on loopback. A target
// goes down: the ServiceDown notification reaches the test's webhook no
// sooner than the rule's for: and within for: + group_wait (plus one scrape
// and one evaluation to notice, and slack for a loaded machine). The target
// comes back: the resolution follows. Then the node exporter's target goes
// down with it: HostDown arrives, and inhibition keeps both ServiceDown
// alerts from anyone.
func TestAlertReachesReceiver(t *testing.T) {
	promBin := testutil.Tool(t, "prometheus")
	amBin := testutil.Tool(t, "prometheus-alertmanager")
	dir := t.TempDir()

	// The receiver's bearer token comes from a file in the credentials
	// directory, as the operator provisions it on the server.
	const token = "s3cret-token-from-a-file"
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(creds, "hook-token"), []byte(token+"\n"))

	notes := make(chan notification, 16)
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("webhook Authorization %q, want the token from the credentials file", got)
		}
		var m webhookMessage
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook payload: %v\n%s", err, body)
		}
		notes <- notification{time.Now(), m}
	})}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hook.Serve(hl)
	t.Cleanup(func() { hook.Close() })

	tg := &target{addr: "127.0.0.1:0"}
	tg.start(t)
	t.Cleanup(tg.stop)
	node := &target{addr: "127.0.0.1:0"}
	node.start(t)
	t.Cleanup(node.stop)
	amAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	promAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))

	am := clipperAlertmanager()
	am.GroupWait, am.GroupInterval = promDuration(liveGroupWait), promDuration(liveGroupEvery)
	am.Receivers = []AlertReceiver{{Name: "test-hook", Severities: []string{"critical"},
		Webhook: &WebhookReceiver{URL: "http://" + hl.Addr().String() + "/hook", TokenFile: "hook-token"}}}
	amFiles, err := filesOf(Alertmanager(am))
	if err != nil {
		t.Fatal(err)
	}
	// The container sees the credentials directory at its mount point;
	// this Alertmanager runs on the host.
	amFiles[0].Contents = []byte(strings.ReplaceAll(string(amFiles[0].Contents), alertmanagerCredentialsMount+"/", creds+"/"))
	amDir := writeUnder(t, filepath.Join(dir, "am"), AlertmanagerConfigDir, amFiles)

	prom := clipperPrometheus()
	prom.ScrapeInterval, prom.EvaluationInterval = promDuration(liveScrape), promDuration(liveScrape)
	prom.Alerts.ServiceDownFor, prom.Alerts.HostDownFor = liveDownFor, liveHostFor
	prom.Jobs = []ScrapeJob{{Name: "clipper-backend", Targets: []string{tg.addr}}, {Name: "node", Targets: []string{node.addr}}}
	prom.Alertmanagers = []string{amAddr}
	prom.HostJob = "node"
	promFiles, err := filesOf(Prometheus(prom))
	if err != nil {
		t.Fatal(err)
	}
	promDir := writeUnder(t, filepath.Join(dir, "prom"), PrometheusConfigDir, promFiles)

	testutil.StartDaemon(t, exec.Command(amBin, "--config.file="+filepath.Join(amDir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "am-data"), "--web.listen-address="+amAddr, "--cluster.listen-address="), syscall.SIGTERM)
	testutil.StartDaemon(t, exec.Command(promBin, "--config.file="+filepath.Join(promDir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"), "--web.listen-address="+promAddr), syscall.SIGTERM)

	// The target must be seen up before it goes down.
	testutil.WaitFor(t, "prometheus scrapes the target", 60*time.Second, func() error {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + "up%7Bjob%3D%22clipper-backend%22%7D%3D%3D1")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"clipper-backend"`) {
			return fmt.Errorf("not up yet: %s", b)
		}
		return nil
	})
	testutil.WaitFor(t, "alertmanager is ready", 30*time.Second, func() error {
		return testutil.StatusOK(http.Get("http://" + amAddr + "/-/ready"))
	})

	down := time.Now()
	tg.stop()
	bound := liveDownFor + liveGroupWait + 2*liveScrape + liveSlack
	fired := expectNotification(t, notes, "firing", bound)
	if d := fired.at.Sub(down); d < liveDownFor {
		t.Errorf("ServiceDown arrived %v after the target went down, before its for: of %v", d, liveDownFor)
	} else {
		t.Logf("ServiceDown arrived %v after the target went down (for %v + group_wait %v)", d.Round(time.Millisecond), liveDownFor, liveGroupWait)
	}
	a := fired.msg.Alerts[0]
	if fired.msg.Receiver != "test-hook" || a.Labels["alertname"] != "ServiceDown" || a.Labels["job"] != "clipper-backend" ||
		a.Labels["appliance"] != "clipper" || a.Labels["severity"] != "critical" {
		t.Errorf("unexpected notification: %+v", fired.msg)
	}

	up := time.Now()
	tg.start(t)
	resolved := expectNotification(t, notes, "resolved", 2*liveScrape+liveGroupEvery+liveSlack)
	t.Logf("resolution arrived %v after the target came back", resolved.at.Sub(up).Round(time.Millisecond))
	if resolved.msg.Alerts[0].Labels["alertname"] != "ServiceDown" {
		t.Errorf("unexpected resolution: %+v", resolved.msg)
	}

	// The host goes down: its node exporter and the service with it.
	node.stop()
	tg.stop()
	host := expectNotification(t, notes, "firing", bound)
	if got := host.msg.Alerts[0].Labels["alertname"]; got != "HostDown" {
		t.Fatalf("first notification with the host down is %s, want HostDown: %+v", got, host.msg)
	}
	// Every ServiceDown group would be flushed within group_wait of
	// HostDown's; none may reach the receiver.
	quiet := time.After(liveGroupWait + 2*liveScrape + 2*time.Second)
	for {
		select {
		case n := <-notes:
			for _, a := range n.msg.Alerts {
				if a.Status == "firing" && a.Labels["alertname"] != "HostDown" {
					t.Errorf("%s (%s) reached the receiver while HostDown fires: inhibition failed", a.Labels["alertname"], a.Labels["job"])
				}
			}
		case <-quiet:
			return
		}
	}
}

// expectNotification waits for a notification with the given status.
func expectNotification(t *testing.T, notes <-chan notification, status string, within time.Duration) notification {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case n := <-notes:
			if len(n.msg.Alerts) == 0 {
				t.Fatalf("notification without alerts: %+v", n.msg)
			}
			if n.msg.Status == status {
				return n
			}
			t.Logf("ignoring a %s notification while waiting for %s: %+v", n.msg.Status, status, n.msg)
		case <-timeout:
			t.Fatalf("no %s notification within %v", status, within)
		}
	}
}
