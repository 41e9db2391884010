//go:build !unix

package test

import "time"

// processCPU is not measured here: the benchmarks report no cpu-µs/op.
func processCPU() time.Duration { return 0 }
