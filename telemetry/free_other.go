//go:build !unix

package telemetry

// freeBytes returns -1: the free space is not known here.
func freeBytes(string) int64 { return -1 }

// isWindows says whether modes are not set (Windows has none to speak of).
const isWindows = true
