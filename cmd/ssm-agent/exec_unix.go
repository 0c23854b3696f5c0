//go:build unix

package main

import (
	"os"
	"syscall"
)

// execSelf replaces this process with path, run with args[1:].
func execSelf(path string, args []string) error {
	return syscall.Exec(path, append([]string{path}, args[1:]...), os.Environ())
}
