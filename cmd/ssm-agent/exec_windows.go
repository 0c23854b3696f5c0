package main

import "errors"

// execSelf cannot replace a process on Windows: the service manager
// restarts the service instead.
func execSelf(path string, args []string) error {
	return errors.New("restarting into another version needs the service manager on Windows")
}
