package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"
)

// digestStore remembers the sha256 of base files between builds, so a
// local base is hashed once rather than on every build. An entry is keyed
// by the file's device, inode, size and modification time: a file changed
// in place, replaced or copied gets a new key and is hashed again.
type digestStore struct{ dir string }

func (d digestStore) key(path string) (string, bool) {
	var st unix.Stat_t
	if d.dir == "" || unix.Stat(path, &st) != nil {
		return "", false
	}
	k := sha256.Sum256([]byte(fmt.Sprintf("%d:%d:%d:%d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)))
	return filepath.Join(d.dir, hex.EncodeToString(k[:16])+".sha256"), true
}

var hexDigestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (d digestStore) get(path string) (string, bool) {
	p, ok := d.key(path)
	if !ok {
		return "", false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	sum, _, _ := strings.Cut(string(data), " ")
	if !hexDigestRE.MatchString(sum) {
		return "", false
	}
	return sum, true
}

// put records a digest; failing to record it only costs a later rehash.
func (d digestStore) put(path, sum string) {
	p, ok := d.key(path)
	if !ok || os.MkdirAll(d.dir, 0o755) != nil {
		return
	}
	_ = renameio.WriteFile(p, []byte(sum+"  "+path+"\n"), 0o644)
}
