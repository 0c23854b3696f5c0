//go:build unix

package telemetry

import "syscall"

// freeBytes returns the space left to unprivileged writers in dir, or -1.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// isWindows is false here.
const isWindows = false
