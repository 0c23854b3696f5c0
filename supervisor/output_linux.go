package supervisor

import (
	"io"
	"os"
	"syscall"
)

// fallocFlCollapseRange is fallocate's FALLOC_FL_COLLAPSE_RANGE.
const fallocFlCollapseRange = 0x08

// moveHead copies the whole blocks at the start of f (size bytes long) to
// out and removes them from f in place, so that appends to f are never
// lost. It reports false, with out left empty, where the file system
// cannot, or f is smaller than a block.
func moveHead(f, out *os.File, size int64) bool {
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil || st.Blksize <= 0 {
		return false
	}
	n := size / int64(st.Blksize) * int64(st.Blksize)
	if n == 0 {
		return false
	}
	undo := func() bool {
		out.Truncate(0)
		out.Seek(0, io.SeekStart)
		return false
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, 0, n)); err != nil {
		return undo()
	}
	if err := syscall.Fallocate(int(f.Fd()), fallocFlCollapseRange, 0, n); err != nil {
		return undo()
	}
	return true
}
