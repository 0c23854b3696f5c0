package selfupdate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
)

// Modes of what unpacking creates.
const (
	dirMode  fs.FileMode = 0o755
	fileMode fs.FileMode = 0o644
	execMode fs.FileMode = 0o755
)

// chmodDir sets a directory's mode on its open descriptor.
func chmodDir(root *os.Root, name string) error {
	if runtime.GOOS == "windows" {
		return nil // no modes to speak of
	}
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", name)
	}
	return d.Chmod(dirMode)
}

// mkdirAll creates a directory and its parents, those not made already,
// 0755 each.
func (x *extractor) mkdirAll(name string) error {
	if name == "." || x.made[name] {
		return nil
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	// A directory takes a block, whether the archive names it or only
	// implies it, and counts beside the entries (at most as many again).
	if x.madeDirs++; x.entries+x.madeDirs > 2*x.lim.maxEntries {
		return fmt.Errorf("selfupdate: %w: entry %q: more than %d entries and directories", ErrUnsafeArchive, shortName(name), 2*x.lim.maxEntries)
	}
	if x.free >= 0 && blockSize > x.free-x.disk {
		return fmt.Errorf("selfupdate: unpack: %w: directory %q does not fit in the %d bytes left in %s (%d kept free)",
			ErrNoSpace, shortName(name), max(x.free-x.disk, 0), x.dest, unpackReserve)
	}
	x.disk += blockSize
	err := x.root.Mkdir(name, 0o700)
	if err == nil {
		x.dirs = append(x.dirs, name)
		x.made[name] = true
		err = chmodDir(x.root, name)
	}
	if err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", name, err)
	}
	return nil
}

// charge counts a file of size bytes against the limit and the room on
// disk before anything of it is written.
func (x *extractor) charge(entry string, size int64) error {
	if size < 0 {
		return unsafeErr(entry, fmt.Sprintf("declares a size of %d bytes", size))
	}
	if size > x.lim.maxBytes-x.bytes {
		return unsafeErr(entry, fmt.Sprintf("of %d bytes makes more than %d bytes unpacked", size, x.lim.maxBytes))
	}
	x.bytes += size
	disk := blockSize + (size+blockSize-1)/blockSize*blockSize
	if x.free >= 0 && disk > x.free-x.disk {
		return fmt.Errorf("selfupdate: unpack: %w: entry %q of %d bytes does not fit in the %d bytes left of %d in %s (%d kept free)",
			ErrNoSpace, entry, size, max(x.free-x.disk, 0), x.free, x.dest, unpackReserve)
	}
	x.disk += disk
	return nil
}

// file writes a regular file of the declared size from r.
func (x *extractor) file(entry, name string, size int64, exec bool, r io.Reader) error {
	if err := x.charge(entry, size); err != nil {
		return err
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", name, err)
	}
	x.files = append(x.files, name)
	mode := fileMode
	if exec {
		mode = execMode
	}
	if err = f.Chmod(mode); err != nil && runtime.GOOS == "windows" {
		err = nil
	}
	if x.buf == nil {
		x.buf = make([]byte, copyBuffer)
	}
	var n int64
	if err == nil {
		n, err = io.CopyBuffer(&writeback{f: f}, io.LimitReader(r, size+1), x.buf)
		x.written += n
	}
	if err == nil && n != size {
		err = unsafeErr(entry, fmt.Sprintf("holds %d bytes or more, not the %d it declares", n, size))
	}
	if err == nil {
		startWriteback(f, 0, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, ErrUnsafeArchive) {
		err = fmt.Errorf("selfupdate: unpack %s: %w", name, err)
	}
	return err
}

// writeback writes to a file and starts the kernel writing it to disk every
// few megabytes, so that the final sync has little left to do. (It also
// hides File.ReadFrom, which would copy in small chunks, from CopyBuffer.)
type writeback struct {
	f             *os.File
	written, sent int64
}

const writebackEvery = 8 << 20

func (w *writeback) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.written += int64(n)
	if w.written-w.sent >= writebackEvery {
		startWriteback(w.f, w.sent, w.written-w.sent)
		w.sent = w.written
	}
	return n, err
}

// hardlink links name to a regular file unpacked before it.
func (x *extractor) hardlink(entry, name, target string) error {
	t, err := cleanName(entry, target)
	if err != nil {
		return unsafeErr(entry, fmt.Sprintf("hard-links to %q, which is refused: %v", target, err))
	}
	if x.names[t] != kindFile {
		return unsafeErr(entry, fmt.Sprintf("hard-links to %q, which is not a regular file unpacked before it", target))
	}
	if fi, err := x.root.Lstat(t); err != nil || !fi.Mode().IsRegular() {
		return unsafeErr(entry, fmt.Sprintf("hard-links to %q, which is not a regular file", target))
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := x.root.Link(t, name); err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", name, err)
	}
	return nil
}

// symlink checks a symbolic link's target as text and keeps the link for
// makeSymlinks, once every other entry is in place.
func (x *extractor) symlink(entry, name, target string) error {
	if runtime.GOOS == "windows" {
		return unsafeErr(entry, "is a symbolic link, which is not unpacked on Windows")
	}
	t, err := cleanTarget(entry, target)
	if err != nil {
		return err
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	x.symlinks = append(x.symlinks, pendingLink{entry: entry, name: name, target: t})
	return nil
}

// makeSymlinks makes the symbolic links, after everything else: each is
// checked against every other first, then made, then every path it and its
// target pass through is checked again as the kernel sees it, so that a
// file system that folds case or normalises names cannot join two names
// the text keeps apart.
func (x *extractor) makeSymlinks() error {
	passed := make([][]string, len(x.symlinks))
	for i, l := range x.symlinks {
		p, err := x.resolveTarget(l)
		if err != nil {
			return err
		}
		passed[i] = p
	}
	for _, l := range x.symlinks {
		if err := x.root.Symlink(l.target, l.name); err != nil {
			return fmt.Errorf("selfupdate: unpack %s: %w", l.name, err)
		}
	}
	for i, l := range x.symlinks {
		if err := x.verifyLink(l, passed[i]); err != nil {
			return err
		}
	}
	return nil
}

// verifyLink checks with Lstat that a link is where it was meant to be,
// below real directories only, and that nothing its target passes through
// is a symbolic link.
func (x *extractor) verifyLink(l pendingLink, passed []string) error {
	for p := path.Dir(l.name); p != "."; p = path.Dir(p) {
		if fi, err := x.root.Lstat(p); err != nil || !fi.IsDir() {
			return unsafeErr(l.entry, fmt.Sprintf("passes through %q, which is not a directory on disk", p))
		}
	}
	if got, err := x.root.Readlink(l.name); err != nil || got != l.target {
		return unsafeErr(l.entry, "is not the symbolic link made for it on disk")
	}
	for _, p := range passed {
		fi, err := x.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // dangles here: the kernel cannot go further either
		}
		if err != nil {
			return fmt.Errorf("selfupdate: unpack %s: %w", l.name, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return unsafeErr(l.entry, fmt.Sprintf("links through %q, a symbolic link on disk", p))
		}
		if !fi.IsDir() {
			return nil // the kernel stops here too, with ENOTDIR if the target goes on
		}
	}
	return nil
}
