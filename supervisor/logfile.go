package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

// A RotatingFile is an io.WriteCloser for a worker's output that keeps its
// size bounded: when a write would take the file past MaxBytes, the file is
// renamed to Path.1 (Path.1 to Path.2, and so on, the oldest beyond Keep
// removed) and a new one started. It is safe for concurrent use. The file
// is opened on the first write.
type RotatingFile struct {
	// Path is the file; its directory must exist.
	Path string
	// MaxBytes is the size at which the file is rotated. Default 10 MiB.
	MaxBytes int64
	// Keep is the number of rotated files kept. Default 3.
	Keep int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Write writes b, rotating first if b would not fit. A single write larger
// than MaxBytes goes into a file of its own.
func (r *RotatingFile) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	if r.size > 0 && r.size+int64(len(b)) > r.maxBytes() {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(b)
	r.size += int64(n)
	return n, err
}

// Close closes the current file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

func (r *RotatingFile) maxBytes() int64 {
	if r.MaxBytes <= 0 {
		return 10 << 20
	}
	return r.MaxBytes
}

func (r *RotatingFile) keep() int {
	if r.Keep <= 0 {
		return 3
	}
	return r.Keep
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("supervisor: output file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("supervisor: output file: %w", err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *RotatingFile) rotate() error {
	r.f.Close()
	r.f = nil
	keep := r.keep()
	os.Remove(r.Path + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(r.Path+"."+strconv.Itoa(i), r.Path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(r.Path, r.Path+".1"); err != nil {
		return fmt.Errorf("supervisor: rotate output file: %w", err)
	}
	return r.open()
}
