package services

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// postgresUser is the account PostgreSQL and PgBouncer run as: both refuse
// to run as root, and the tests run as root.
type postgresUser struct{ uid, gid uint32 }

func lookupPostgresUser(t *testing.T) postgresUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the servers as user postgres")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("user postgres (created by the postgresql package): %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return postgresUser{uint32(uid), uint32(gid)}
}

// command builds a command running as the postgres user.
func (p postgresUser) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid}}
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", "HOME=/tmp"}
	return cmd
}

func (p postgresUser) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := p.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sharedDir makes a scratch directory the postgres user owns. t.TempDir's
// parents are private to root, so it cannot be used.
func (p postgresUser) sharedDir(t *testing.T) string {
	t.Helper()
	dir := testutil.SharedDir(t, "kiln-services-")
	if err := os.Chown(dir, int(p.uid), int(p.gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeOwned writes a file owned by the postgres user with mode.
func (p postgresUser) writeOwned(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(p.uid), int(p.gid)); err != nil {
		t.Fatal(err)
	}
}
