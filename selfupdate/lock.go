package selfupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/internal/procid"
)

// ErrLockBusy is returned when another live updater holds the update lock.
var ErrLockBusy = errors.New("selfupdate: another update is in progress")

// lockTTL is how long a lock is trusted without its holder being checked.
const lockTTL = time.Hour

type lockFile struct {
	Holder  procid.ID `json:"holder"`
	Expires time.Time `json:"expires"`
}

// acquireLock takes the update lock at path, taking over a lock whose
// holder has died or whose time has run out. It returns the release.
func acquireLock(path string) (func(), error) {
	self := procid.Self()
	mine := lockFile{Holder: self, Expires: time.Now().Add(lockTTL)}
	b, _ := json.Marshal(mine)
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(b)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
			if err != nil {
				os.Remove(path)
				return nil, fmt.Errorf("selfupdate: lock: %w", err)
			}
			return func() { release(path, self) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("selfupdate: lock: %w", err)
		}
		held, err := readLock(path)
		if err == nil && held.Holder.Running() && time.Now().Before(held.Expires) {
			return nil, fmt.Errorf("%w (held by pid %d until %s)", ErrLockBusy, held.Holder.PID, held.Expires.Format(time.RFC3339))
		}
		// A stale lock, or one that cannot be read: take it over, then
		// check that no one else did at the same moment.
		if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("selfupdate: lock: %w", err)
		}
		if now, err := readLock(path); err == nil && now.Holder == self {
			return func() { release(path, self) }, nil
		}
	}
	return nil, ErrLockBusy
}

func readLock(path string) (lockFile, error) {
	var l lockFile
	b, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	return l, json.Unmarshal(b, &l)
}

// release removes the lock if this process still holds it.
func release(path string, self procid.ID) {
	if l, err := readLock(path); err == nil && l.Holder == self {
		atomicfile.Remove(path)
	}
}
