package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// ErrUnsafeArchive is wrapped by the error about an archive entry that
// would escape the staging directory, or an archive over the limits.
var ErrUnsafeArchive = errors.New("unsafe archive")

// Limits of unpacking, against archive bombs.
type unpackLimits struct {
	maxEntries int
	maxBytes   int64
}

// unpack extracts a .tar.gz or .zip archive into dest, which must not
// exist, and syncs everything it wrote. Absolute paths, "..", links that
// point outside dest, device files and pipes are refused, as are archives
// over the limits; setuid, setgid and sticky bits are dropped.
func unpack(archive, dest string, lim unpackLimits) error {
	x, err := extract(archive, dest, lim)
	if err != nil {
		return err
	}
	return x.sync()
}

// extract is unpack without the sync, which the caller does with x.sync:
// the updater first deletes the downloaded package, whose pages then need
// never reach the disk.
func extract(archive, dest string, lim unpackLimits) (*extractor, error) {
	if err := os.Mkdir(dest, 0o755); err != nil {
		return nil, fmt.Errorf("selfupdate: unpack: %w", err)
	}
	x := &extractor{dest: dest, lim: lim, dirs: []string{dest}}
	var err error
	switch {
	case strings.HasSuffix(archive, ".zip"):
		err = x.zip(archive)
	case strings.HasSuffix(archive, ".tar.gz"), strings.HasSuffix(archive, ".tgz"):
		err = x.tarGz(archive)
	default:
		err = fmt.Errorf("selfupdate: unpack %s: not a .tar.gz or .zip", filepath.Base(archive))
	}
	if err != nil {
		return nil, err
	}
	return x, nil
}

// sync flushes every file and directory written to disk.
func (x *extractor) sync() error {
	for _, p := range x.files {
		f, err := os.Open(p)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("selfupdate: sync %s: %w", p, err)
		}
	}
	for _, d := range x.dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

type extractor struct {
	dest    string
	lim     unpackLimits
	entries int
	bytes   int64
	dirs    []string
	files   []string // written, to be synced
	buf     []byte
}

func unsafeErr(name, why string) error {
	return fmt.Errorf("selfupdate: %w: entry %q %s", ErrUnsafeArchive, name, why)
}

// target returns where an entry goes, or an error if it would leave dest.
func (x *extractor) target(name string) (string, error) {
	x.entries++
	if x.entries > x.lim.maxEntries {
		return "", fmt.Errorf("selfupdate: %w: more than %d entries", ErrUnsafeArchive, x.lim.maxEntries)
	}
	n := strings.ReplaceAll(name, "\\", "/")
	if n == "" || path.IsAbs(n) || filepath.IsAbs(name) || filepath.VolumeName(name) != "" {
		return "", unsafeErr(name, "has an absolute path")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", unsafeErr(name, "climbs out with ..")
		}
	}
	clean := path.Clean(n)
	if clean == "." {
		return x.dest, nil
	}
	return filepath.Join(x.dest, filepath.FromSlash(clean)), nil
}

// inside reports whether p is dest or below it.
func (x *extractor) inside(p string) bool {
	rel, err := filepath.Rel(x.dest, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (x *extractor) mkdir(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("selfupdate: unpack: %w", err)
	}
	if !slices.Contains(x.dirs, p) {
		x.dirs = append(x.dirs, p)
	}
	return nil
}

// file writes a regular file from r, within the byte limit.
func (x *extractor) file(p string, mode fs.FileMode, r io.Reader) error {
	if err := x.mkdir(filepath.Dir(p)); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if err != nil {
		return fmt.Errorf("selfupdate: unpack: %w", err)
	}
	if x.buf == nil {
		x.buf = make([]byte, copyBuffer)
	}
	room := x.lim.maxBytes - x.bytes
	n, err := io.CopyBuffer(&writeback{f: f}, io.LimitReader(r, room+1), x.buf)
	x.bytes += n
	x.files = append(x.files, p)
	if err == nil && n > room {
		err = fmt.Errorf("selfupdate: %w: more than %d bytes unpacked", ErrUnsafeArchive, x.lim.maxBytes)
	}
	if err == nil {
		startWriteback(f, 0, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, ErrUnsafeArchive) {
		err = fmt.Errorf("selfupdate: unpack %s: %w", p, err)
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

// symlink makes a link whose target must resolve inside dest.
func (x *extractor) symlink(name, p, link string) error {
	if runtime.GOOS == "windows" {
		return unsafeErr(name, "is a symbolic link, which is not unpacked on Windows")
	}
	if filepath.IsAbs(link) || path.IsAbs(link) {
		return unsafeErr(name, "links to an absolute path "+link)
	}
	if !x.inside(filepath.Join(filepath.Dir(p), filepath.FromSlash(link))) {
		return unsafeErr(name, "links outside the package, to "+link)
	}
	if err := x.mkdir(filepath.Dir(p)); err != nil {
		return err
	}
	if err := os.Symlink(link, p); err != nil {
		return fmt.Errorf("selfupdate: unpack: %w", err)
	}
	return nil
}

func (x *extractor) tarGz(archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, copyBuffer))
	if err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), err)
		}
		p, err := x.target(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.mkdir(p)
		case tar.TypeReg:
			err = x.file(p, fs.FileMode(h.Mode).Perm(), tr)
		case tar.TypeSymlink:
			err = x.symlink(h.Name, p, h.Linkname)
		case tar.TypeLink:
			var from string
			if from, err = x.target(h.Linkname); err == nil {
				x.entries-- // the link's target is not an entry of its own
				if err = x.mkdir(filepath.Dir(p)); err == nil {
					err = os.Link(from, p)
				}
			}
		default:
			return unsafeErr(h.Name, fmt.Sprintf("is of type %q (devices, pipes and the like are refused)", string(h.Typeflag)))
		}
		if err != nil {
			return err
		}
	}
}

func (x *extractor) zip(archive string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), err)
	}
	defer zr.Close()
	if len(zr.File) > x.lim.maxEntries {
		return fmt.Errorf("selfupdate: %w: %d entries, more than %d", ErrUnsafeArchive, len(zr.File), x.lim.maxEntries)
	}
	for _, zf := range zr.File {
		p, err := x.target(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = x.mkdir(p)
		case mode&fs.ModeSymlink != 0:
			var link []byte
			if link, err = readZipEntry(zf, 4096); err == nil {
				err = x.symlink(zf.Name, p, string(link))
			}
		case mode.IsRegular():
			var r io.ReadCloser
			if r, err = zf.Open(); err == nil {
				err = x.file(p, mode.Perm(), r)
				r.Close()
			}
		default:
			return unsafeErr(zf.Name, fmt.Sprintf("has mode %v (devices, pipes and the like are refused)", mode))
		}
		if err != nil {
			if !errors.Is(err, ErrUnsafeArchive) && !strings.HasPrefix(err.Error(), "selfupdate:") {
				err = fmt.Errorf("selfupdate: unpack %s: %w", zf.Name, err)
			}
			return err
		}
	}
	return nil
}

func readZipEntry(zf *zip.File, limit int64) ([]byte, error) {
	r, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, limit))
}
