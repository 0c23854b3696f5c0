//go:build unix

package selfupdate

import "syscall"

// freeBytes returns the bytes available to this user on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// sameFS says whether a and b are on one file system.
func sameFS(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return true // cannot tell: count them together, the stricter
	}
	return sa.Dev == sb.Dev
}
