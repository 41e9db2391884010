//go:build linux || darwin || freebsd

package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive lock on f without waiting; it is released
// when f is closed, also when the process dies.
func lockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// freeBytes is the space available to this process on the file system
// holding dir.
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// fallocate gives f size bytes of disk without writing them (Linux), or
// fails where the file system or platform cannot.
func fallocate(f *os.File, size int64) error {
	return fallocateFD(int(f.Fd()), size)
}
