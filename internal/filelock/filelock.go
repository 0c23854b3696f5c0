// Package filelock takes a lock of the operating system on a file in a
// directory: flock on Unix, a handle opened with no sharing on Windows. A
// lock is held exactly as long as its open file is, so a holder that dies
// (killed, crashed, replaced by exec) lets it go at once, and two processes
// can never both hold it. The file is never removed: removing it would let
// a second process lock a new file while the first still holds the old one.
package filelock

import "errors"

// ErrBusy is returned when another open file holds the lock.
var ErrBusy = errors.New("lock busy")
