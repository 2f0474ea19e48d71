package services

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// smtpRelay is a minimal SMTP server: it takes AUTH PLAIN with one
// password and hands each message it accepts to mails.
type smtpRelay struct {
	user, password string
	mails          chan string
	authFailures   chan string
}

func (s *smtpRelay) serve(t *testing.T, l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *smtpRelay) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 relay.test ESMTP")
	authed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-relay.test")
			say("250 AUTH PLAIN")
		case "AUTH":
			f := strings.Fields(cmd)
			raw, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			parts := bytes.Split(raw, []byte{0})
			if len(parts) == 3 && string(parts[1]) == s.user && string(parts[2]) == s.password {
				authed = true
				say("235 2.7.0 Authentication successful")
			} else {
				s.authFailures <- string(raw)
				say("535 5.7.8 Authentication failed")
			}
		case "MAIL", "RCPT":
			if !authed {
				say("530 5.7.0 Authentication required")
				continue
			}
			say("250 OK")
		case "DATA":
			say("354 End data with <CR><LF>.<CR><LF>")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			say("250 OK")
			s.mails <- msg.String()
		case "QUIT":
			say("221 Bye")
			return
		default:
			say("250 OK")
		}
	}
}

// TestAlertEmailReachesRelay: Alertmanager, with kiln's configuration,
// logs in to the SMTP relay with the password from the credentials file
// (never in the configuration) and mails the alert.
func TestAlertEmailReachesRelay(t *testing.T) {
	amBin := testutil.Tool(t, "prometheus-alertmanager")
	dir := t.TempDir()
	const password = "relay-password-from-a-file"
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	// Alertmanager sends the file's bytes as they are, a final newline
	// included: the README says to write it with printf '%s'.
	writeFile(t, filepath.Join(creds, "smtp-password"), []byte(password))

	relay := &smtpRelay{user: "alerts@example.com", password: password, mails: make(chan string, 4), authFailures: make(chan string, 4)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go relay.serve(t, l)

	am := clipperAlertmanager()
	am.GroupWait = "1s"
	am.Receivers = []AlertReceiver{{Name: "ops", Email: &EmailReceiver{
		To: []string{"ops@example.com"}, From: "alerts@example.com", Smarthost: l.Addr().String(),
		Username: "alerts@example.com", PasswordFile: "smtp-password"}}}
	files, err := filesOf(Alertmanager(am))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(files[0].Contents)
	if strings.Contains(conf, password) {
		t.Fatal("the password is in the configuration")
	}
	// The container sees the credentials at its mount point; this
	// Alertmanager runs on the host. The test relay speaks no TLS, which
	// kiln's configuration requires by default (STARTTLS).
	conf = strings.ReplaceAll(conf, alertmanagerCredentialsMount+"/", creds+"/")
	conf = strings.Replace(conf, "        send_resolved: true\n", "        send_resolved: true\n        require_tls: false\n", 1)
	confPath := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, confPath, []byte(conf))

	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	testutil.StartDaemon(t, exec.Command(amBin, "--config.file="+confPath, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address="), syscall.SIGTERM)
	alert := `[{"labels":{"alertname":"DiskSpaceLow","severity":"warning","appliance":"clipper","mountpoint":"/var"},"annotations":{"summary":"Disk space low"}}]`
	testutil.WaitFor(t, "alertmanager takes the alert", 30*time.Second, func() error {
		return testutil.StatusOK(http.Post("http://"+addr+"/api/v2/alerts", "application/json", strings.NewReader(alert)))
	})
	select {
	case msg := <-relay.mails:
		if !strings.Contains(msg, "To: ops@example.com") || !strings.Contains(msg, "DiskSpaceLow") {
			t.Errorf("unexpected mail:\n%s", msg)
		}
	case raw := <-relay.authFailures:
		t.Fatalf("the relay refused Alertmanager's login %q", raw)
	case <-time.After(20 * time.Second):
		t.Fatal("no mail within 20s")
	}
}
