//go:build unix

package main

import "syscall"

// canExec says whether a core can replace itself with another version.
const canExec = true

// execSelf replaces this process with path, run with args[1:] and env.
func execSelf(path string, args, env []string) error {
	return syscall.Exec(path, append([]string{path}, args[1:]...), env)
}
