package vm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Key is an SSH key pair made for one boot.
type Key struct {
	// Signer logs in.
	Signer ssh.Signer
	// Authorized is the public key as a line of authorized_keys (no newline).
	Authorized string
	priv       ed25519.PrivateKey
}

// NewKey makes an ed25519 key pair with the given comment.
func NewKey(comment string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return &Key{Signer: signer, Authorized: line, priv: priv}, nil
}

// WritePrivate writes the private key to path (mode 0600, OpenSSH format),
// so that a person can log in to the machine while a test runs.
func (k *Key) WritePrivate(path string) error {
	block, err := ssh.MarshalPrivateKey(k.priv, "")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// Client is an SSH session to the guest.
type Client struct {
	c *ssh.Client
}

func config(user string, auth ...ssh.AuthMethod) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User: user,
		Auth: auth,
		// The guest made its host key at first boot and is reached only
		// through the host's loopback: there is nothing to pin it to.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         20 * time.Second,
	}
}

// Dial logs in as user with key on the host's loopback port, retrying until
// it works, ctx ends or m stops. It returns the last error with the time
// spent when it gives up.
func Dial(ctx context.Context, m *Machine, port int, user string, key *Key) (*Client, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := config(user, ssh.PublicKeys(key.Signer))
	start := time.Now()
	var last error
	for {
		c, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return &Client{c: c}, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ssh %s@%s: no login after %s: %w", user, addr, time.Since(start).Round(time.Second), last)
		case <-m.Done():
			if m.KVMFailed() {
				return nil, fmt.Errorf("ssh %s@%s: %w: %w after %s", user, addr, ErrExited, ErrKVM, time.Since(start).Round(time.Second))
			}
			return nil, fmt.Errorf("ssh %s@%s: %w after %s: %v", user, addr, ErrExited, time.Since(start).Round(time.Second), last)
		case <-time.After(3 * time.Second):
		}
	}
}

// PasswordRefused reports whether the guest's sshd refuses a password login
// for user (it must, whatever the password).
func PasswordRefused(port int, user string) (bool, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := ssh.Dial("tcp", addr, config(user, ssh.Password("kiln-test-password")))
	if err == nil {
		c.Close()
		return false, nil
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return true, nil
	}
	return false, err
}

// Run runs a shell command in the guest and returns its standard output.
// A non-zero exit is an error that carries the command's standard error.
func (c *Client) Run(cmd string) (string, error) { return c.RunInput(cmd, "") }

// RunInput runs a shell command in the guest with stdin as its standard
// input (a script for `bash -s`, say) and returns its standard output, as
// Run does.
func (c *Client) RunInput(cmd, stdin string) (string, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdin, s.Stdout, s.Stderr = strings.NewReader(stdin), &out, &errb
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Close ends the session.
func (c *Client) Close() error { return c.c.Close() }
