package selfupdate

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing a range of f (n == 0:
// to the end) to disk now, without waiting, so that the final sync of an
// unpacked version overlaps with the unpacking.
func startWriteback(f *os.File, off, n int64) {
	if raw, err := f.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
			syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
		})
	}
}
