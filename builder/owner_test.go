package builder

import (
	"os"
	"syscall"
)

func owner(st os.FileInfo) (uid, gid uint32) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid, s.Gid
	}
	return 1 << 31, 1 << 31
}
