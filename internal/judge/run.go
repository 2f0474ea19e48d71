package judge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// Timeout bounds one run of a judge: a judge that hangs must fail its test,
// not stall CI until the global test timeout.
const Timeout = 2 * time.Minute

// Output is what one run of a judge printed.
type Output struct {
	// Stdout and Stderr are kept apart because several judges (Quadlet,
	// systemd-analyze) report problems only on stderr.
	Stdout, Stderr string
}

// Combined returns stdout followed by stderr, for failure messages.
func (o Output) Combined() string {
	switch {
	case o.Stderr == "":
		return o.Stdout
	case o.Stdout == "":
		return o.Stderr
	}
	return o.Stdout + "\n" + o.Stderr
}

// Command describes a judge invocation beyond its arguments.
type Command struct {
	// Name is the program, located with testutil.Tool.
	Name string
	// Args are its arguments.
	Args []string
	// Env is added to the test's environment (KEY=value).
	Env []string
	// Dir is the working directory; empty means the test's.
	Dir string
	// Stdin is fed to the program.
	Stdin []byte
	// Timeout replaces the default Timeout for a judge known to be slow
	// (booting a VM, starting a database).
	Timeout time.Duration
}

// Exec runs a judge and returns what it printed. A non-zero exit is
// returned as an error wrapping ErrJudgeFailed; a judge that cannot be
// started is fatal to the test, since then nothing was judged.
func Exec(t testing.TB, c Command) (Output, error) {
	t.Helper()
	path := testutil.Tool(t, c.Name)
	limit := Timeout
	if c.Timeout > 0 {
		limit = c.Timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, c.Args...)
	cmd.Dir = c.Dir
	// A judge may leave children behind (a shell running sleep, a server
	// forking): kill its whole process group on timeout, and stop waiting
	// for output pipes a straggler still holds.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(judgeEnv(), c.Env...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The judge itself succeeded; what it started in the background
		// (a server started with pg_ctl, say) is the test's to stop.
		err = nil
	}
	out := Output{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s %s: %w after %s", c.Name, strings.Join(c.Args, " "), ErrJudgeTimeout, limit)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out, fmt.Errorf("%s %s: %w: %s", c.Name, strings.Join(c.Args, " "), ErrJudgeFailed, exit)
	}
	if err != nil {
		t.Fatalf("cannot run judge %s: %v", c.Name, err)
	}
	return out, nil
}

// RunJudge runs name with args, fails the test with the judge's output when
// it exits non-zero, and returns stdout and stderr combined.
func RunJudge(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Exec(t, Command{Name: name, Args: args})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.Combined())
	}
	return out.Combined()
}

// TryJudge runs name with args and returns its combined output and the
// exit error, for tests that expect a judge to reject something.
func TryJudge(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	out, err := Exec(t, Command{Name: name, Args: args})
	return out.Combined(), err
}

// judgeEnv is the test's environment with a C locale, so messages are the
// ones the filters below expect, the sbin directories on PATH (useradd and
// groupadd live there and CI's PATH may lack them), and systemd's colours
// and pager off.
func judgeEnv() []string {
	env := make([]string, 0, len(os.Environ())+4)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=") + ":/usr/sbin:/sbin"
		case strings.HasPrefix(kv, "LANG="), strings.HasPrefix(kv, "LC_"), strings.HasPrefix(kv, "LANGUAGE="):
		default:
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+path, "LC_ALL=C", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_LOG_COLOR=0")
}
