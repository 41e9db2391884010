//go:build !(linux || darwin || freebsd)

package engine

import (
	"errors"
	"os"
)

// lockFile does not lock on this platform: two engines on one data dir are
// not prevented here.
func lockFile(*os.File) error { return nil }

// freeBytes is not known on this platform; the space guard then allows
// every write.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("engine: free space unknown on this platform")
}

func fallocate(*os.File, int64) error { return errors.New("engine: fallocate not available") }
