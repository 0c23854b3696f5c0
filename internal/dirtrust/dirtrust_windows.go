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

// CheckFile accepts every existing file on Windows (see Check).
func CheckFile(path string) error {
	_, err := os.Stat(path)
	return err
}

// CheckCreate accepts every directory on Windows (see Check).
func CheckCreate(dir string) error { return nil }
