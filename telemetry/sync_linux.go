package telemetry

import (
	"os"
	"syscall"
)

// datasync flushes a file's data and the metadata needed to read it back,
// without the timestamps fsync would also write.
func datasync(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = ignoringEINTR(func() error { return syscall.Fdatasync(int(fd)) })
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}
