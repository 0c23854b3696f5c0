package selfupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/internal/filelock"
	"github.com/ssmkit/ssmkit/internal/procid"
)

// ErrLockBusy is returned when another live process holds the update lock.
var ErrLockBusy = errors.New("another update is in progress")

// The update lock is a lock of the operating system on update.lock
// (flock on Unix, an unshared handle on Windows), not a file that exists or
// not: it is held exactly as long as the holder's open file is, so a holder
// that dies — killed, crashed, or replaced by exec — releases it at once,
// and two processes that find it free at the same moment cannot both take
// it. The file holds the holder's identity, for messages only, and is never
// removed (removing it would let a second process lock a new file while
// the first still holds the old one).

// A fileLock is a held update lock.
type fileLock struct{ f *os.File }

// acquireLock takes the update lock at path without waiting.
func acquireLock(path string) (*fileLock, error) {
	f, err := openLock(path)
	if errors.Is(err, filelock.ErrBusy) {
		return nil, lockBusy(path)
	}
	if err != nil {
		return nil, fmt.Errorf("selfupdate: lock %s: %w", path, err)
	}
	b, _ := json.Marshal(procid.Self())
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return &fileLock{f: f}, nil
}

// openLock takes the OS lock on the file at path, whose directory is
// opened once so that no link on the way is followed at its name.
func openLock(path string) (*os.File, error) {
	dir, err := atomicfile.OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return filelock.TryLock(dir, filepath.Base(path))
}

// release lets the lock go. The file stays.
func (l *fileLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor releases the lock
		l.f = nil
	}
}

// lockBusy names the holder of a busy lock, as far as its file tells.
func lockBusy(path string) error {
	var holder procid.ID
	if b, err := readLockFile(path); err == nil && json.Unmarshal(b, &holder) == nil && holder.PID > 0 {
		return fmt.Errorf("selfupdate: %w (update lock %s held by pid %d)", ErrLockBusy, path, holder.PID)
	}
	return fmt.Errorf("selfupdate: %w (update lock %s is held)", ErrLockBusy, path)
}

// lockHeld reports whether some process holds the lock at path now.
func lockHeld(path string) (bool, error) {
	l, err := acquireLock(path)
	if errors.Is(err, ErrLockBusy) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	l.release()
	return false, nil
}
