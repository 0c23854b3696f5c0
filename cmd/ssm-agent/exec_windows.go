package main

import "errors"

// canExec says whether a core can replace itself with another version:
// not on Windows, where the service manager (or the guardian) starts the
// next core once this one has exited.
const canExec = false

func execSelf(path string, args, env []string) error {
	return errors.New("restarting into another version needs the service manager on Windows")
}
