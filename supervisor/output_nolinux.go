//go:build !linux

package supervisor

import "os"

// moveHead reports false: only Linux removes a file's head in place.
func moveHead(f, out *os.File, size int64) bool { return false }
