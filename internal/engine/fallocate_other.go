//go:build darwin || freebsd

package engine

import "errors"

func fallocateFD(int, int64) error { return errors.New("engine: fallocate not available") }
