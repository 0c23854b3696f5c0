package dirtrust

import (
	"io/fs"
	"os"
)

// Check accepts every existing directory on Windows, whose ACLs this
// package does not read; install the agent's directories where only
// administrators can write (under %ProgramData%).
func Check(dir string) error {
	_, err := os.Stat(dir)
	return err
}

// MkdirAll creates dir and its parents.
func MkdirAll(dir string, perm fs.FileMode) error {
	return os.MkdirAll(dir, perm)
}
