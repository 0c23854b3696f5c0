package selfupdate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrChecksum is wrapped by the error about a package whose SHA-256 is not
// the manifest's.
var ErrChecksum = errors.New("checksum mismatch")

// ErrNoSpace is wrapped by the error about a disk without room for a
// download.
var ErrNoSpace = errors.New("not enough disk space")

// copyBuffer is the buffer size of downloads and unpacking.
const copyBuffer = 256 << 10

// download fetches url to path, streaming through a SHA-256 into a
// path.partial file that a later call resumes with a range request. A
// complete file whose hash is not wantSum is deleted and nothing else
// changes. At most maxBytes are accepted, and the disk must have room for
// the rest of the file plus spare bytes.
func download(ctx context.Context, src Source, url, path, wantSum string, maxBytes, spare int64) error {
	partial := path + ".partial"
	h := sha256.New()
	offset, err := hashPrefix(partial, h)
	if err != nil {
		return err
	}
	obj, err := src.Open(ctx, url, Request{Offset: offset})
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	if obj.Offset != offset { // the source sent it all: start over
		h.Reset()
		offset = 0
	}
	if obj.Size > maxBytes {
		return fmt.Errorf("selfupdate: %s is %d bytes, the limit is %d", url, obj.Size, maxBytes)
	}
	need := spare
	if obj.Size > 0 {
		need += obj.Size - offset
	}
	if free, err := freeBytes(filepath.Dir(path)); err == nil && free < need {
		return fmt.Errorf("selfupdate: download %s: %w: %d bytes free in %s, %d needed", url, ErrNoSpace, free, filepath.Dir(path), need)
	}
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(partial, flags, 0o600)
	if err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("selfupdate: %w", err)
	}
	ah := newAsyncHash(h)
	n, err := io.CopyBuffer(io.MultiWriter(f, ah), io.LimitReader(obj.Body, maxBytes-offset+1), make([]byte, copyBuffer))
	ah.wait()
	// The package need not reach the disk: a crash means downloading
	// again, and unpacking syncs what it writes.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	total := offset + n
	switch {
	case err != nil:
		return fmt.Errorf("selfupdate: download %s: %w (%d bytes kept to resume)", url, err, total)
	case total > maxBytes:
		os.Remove(partial)
		return fmt.Errorf("selfupdate: %s is over the limit of %d bytes", url, maxBytes)
	case obj.Size >= 0 && total != obj.Size:
		return fmt.Errorf("selfupdate: download %s: cut short at %d of %d bytes (kept to resume)", url, total, obj.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, wantSum) {
		os.Remove(partial)
		return fmt.Errorf("selfupdate: %s: %w: SHA-256 %s, the manifest says %s", url, ErrChecksum, got, strings.ToLower(wantSum))
	}
	if err := os.Rename(partial, path); err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	return nil
}

// hashPrefix feeds an existing partial download to h and returns its size.
func hashPrefix(path string, h hash.Hash) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selfupdate: %w", err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(h, f, make([]byte, copyBuffer))
	if err != nil {
		return 0, fmt.Errorf("selfupdate: read %s: %w", path, err)
	}
	return n, nil
}

// asyncHash feeds a hash from its own goroutine, so that hashing a download
// overlaps with writing it. Write copies into one of a few buffers, which
// bounds memory.
type asyncHash struct {
	h    hash.Hash
	work chan []byte
	free chan []byte
	done chan struct{}
}

func newAsyncHash(h hash.Hash) *asyncHash {
	a := &asyncHash{h: h, work: make(chan []byte, 4), free: make(chan []byte, 4), done: make(chan struct{})}
	for range 4 {
		a.free <- make([]byte, copyBuffer)
	}
	go func() {
		defer close(a.done)
		for b := range a.work {
			a.h.Write(b)
			a.free <- b[:cap(b)]
		}
	}()
	return a
}

func (a *asyncHash) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		buf := <-a.free
		n := copy(buf, rest)
		a.work <- buf[:n]
		rest = rest[n:]
	}
	return len(b), nil
}

// wait returns once everything written has been hashed.
func (a *asyncHash) wait() {
	close(a.work)
	<-a.done
}
