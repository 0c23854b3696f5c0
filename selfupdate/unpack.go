package selfupdate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrUnsafeArchive is wrapped by the error about an archive entry that
// would escape the staging directory, or an archive over the limits.
var ErrUnsafeArchive = errors.New("unsafe archive")

// Limits of unpacking, against archive bombs. A zero field other than
// maxEntries and maxBytes adds no limit.
type unpackLimits struct {
	maxEntries int
	maxBytes   int64
	// room, if positive, caps the bytes the unpacked files may take on
	// disk, beside the free space of the staging file system (tests use it
	// to play a small disk).
	room int64
	// headers, when set, are the .tar.gz's headers as they were read
	// while it was downloaded: unpacking checks them instead of reading
	// the file an extra time.
	headers *tarHeaders
}

// unpackReserve is left free on the staging file system by unpacking, for
// the journal, the completion marker and whatever else the host needs.
const unpackReserve = 4 << 20

// blockSize is what unpacking charges per entry and rounds file sizes up
// to when it counts the room taken on disk.
const blockSize = 4096

// unpack extracts a .tar.gz or .zip archive into dest, which must not
// exist, and syncs everything it wrote. See extract for the rules.
func unpack(archive, dest string, lim unpackLimits) error {
	x, err := extract(archive, dest, lim)
	if err != nil {
		return err
	}
	return x.sync()
}

// extract unpacks a .tar.gz or .zip archive into dest, which must not
// exist, without the sync, which the caller does with x.sync: the updater
// first deletes the downloaded package, whose pages then need never reach
// the disk. On error dest is removed.
//
// Nothing is created, written, linked or changed outside dest, whatever
// the entries: every access goes through an os.Root on dest, regular
// files, directories and hard links are made first and symbolic links
// last, and a symbolic link is refused if its own path or its target
// passes through another symbolic link of the archive or climbs above
// dest (absolute targets are refused; so is any link on Windows). Hard
// links may only name regular files unpacked before them. A name used
// twice (a file twice, a directory and a file, a link over anything) is
// refused, as are absolute names, "..", devices and pipes.
//
// Against bombs, each file's declared size is checked before anything of
// it is written, against the byte limit and the free space of dest's file
// system (less a reserve), and no more than declared is copied; a .zip's
// declared total is checked before its first entry.
//
// Modes are the agent's, never the package's or the umask's: directories
// 0755, regular files 0644, or 0755 if the package gives them any execute
// bit; set on the open descriptor.
func extract(archive, dest string, lim unpackLimits) (*extractor, error) {
	x, err := newExtractor(dest, lim)
	if err != nil {
		return nil, err
	}
	err = x.unpackArchive(archive)
	x.root.Close()
	if err != nil {
		os.RemoveAll(dest)
		return nil, err
	}
	return x, nil
}

// newExtractor creates dest, 0755, and opens it as the root of all that
// follows.
func newExtractor(dest string, lim unpackLimits) (*extractor, error) {
	if err := os.Mkdir(dest, 0o700); err != nil {
		return nil, fmt.Errorf("selfupdate: unpack: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err == nil {
		err = chmodDir(root, ".")
	}
	if err != nil {
		if root != nil {
			root.Close()
		}
		os.Remove(dest)
		return nil, fmt.Errorf("selfupdate: unpack: %w", err)
	}
	x := &extractor{dest: dest, root: root, lim: lim, free: -1,
		names: map[string]kind{".": kindImplicitDir}, dirs: []string{"."}, made: map[string]bool{}}
	if free, err := freeBytes(dest); err == nil {
		x.free = max(free-unpackReserve, 0)
	}
	if lim.room > 0 && (x.free < 0 || lim.room < x.free) {
		x.free = lim.room
	}
	return x, nil
}

func (x *extractor) unpackArchive(archive string) error {
	var err error
	switch {
	case strings.HasSuffix(archive, ".zip"):
		err = x.zip(archive)
	case strings.HasSuffix(archive, ".tar.gz"), strings.HasSuffix(archive, ".tgz"):
		err = x.tarGz(archive)
	default:
		return fmt.Errorf("selfupdate: unpack %s: not a .tar.gz or .zip", filepath.Base(archive))
	}
	if err != nil {
		return err
	}
	return x.makeSymlinks()
}

// sync flushes every file and directory written to disk.
func (x *extractor) sync() error {
	root, err := os.OpenRoot(x.dest)
	if err != nil {
		return fmt.Errorf("selfupdate: sync: %w", err)
	}
	defer root.Close()
	for _, p := range x.files {
		f, err := root.Open(p)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("selfupdate: sync %s: %w", filepath.Join(x.dest, p), err)
		}
	}
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there
	}
	for _, d := range x.dirs {
		f, err := root.Open(d)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("selfupdate: sync %s: %w", filepath.Join(x.dest, d), err)
		}
	}
	return nil
}

// What a name in the archive is.
type kind uint8

const (
	kindImplicitDir kind = iota + 1 // a parent of an entry, with no entry of its own
	kindDir
	kindFile // a regular file or a hard link to one
	kindSymlink
)

func (k kind) String() string {
	switch k {
	case kindImplicitDir, kindDir:
		return "directory"
	case kindFile:
		return "regular file"
	default:
		return "symbolic link"
	}
}

type extractor struct {
	dest     string
	root     *os.Root
	lim      unpackLimits
	entries  int
	bytes    int64 // declared sizes of the files so far
	disk     int64 // room they take on disk, counted in blocks
	free     int64 // room on disk at the start, less the reserve; -1: unknown
	madeDirs int   // directories made
	written  int64 // bytes actually written

	names    map[string]kind // every cleaned name so far, and its parents
	symlinks []pendingLink   // made last
	dirs     []string        // created, to be synced
	made     map[string]bool // the same
	files    []string        // written, to be synced
	buf      []byte
}

// A symbolic link waiting for every other entry.
type pendingLink struct {
	entry, name, target string
}

func unsafeErr(name, why string) error {
	return fmt.Errorf("selfupdate: %w: entry %q %s", ErrUnsafeArchive, shortName(name), why)
}

// shortName is an entry's name as errors show it: cut to 200 bytes, so
// that a hostile name does not fill logs, status and journal.
func shortName(name string) string {
	const max = 200
	if len(name) <= max {
		return name
	}
	return strings.ToValidUTF8(name[:max], "") + "…"
}

// An entry is what the tar and zip readers hand to add.
type entry struct {
	name     string // as in the archive
	kind     kind   // kindDir, kindFile or kindSymlink
	hardlink bool   // a kindFile made by linking to link
	size     int64  // declared
	exec     bool   // any execute bit in the package's mode
	link     string // symbolic link target, or hard link source
	body     io.Reader
}

// count counts an entry against the limit.
func (x *extractor) count() error {
	x.entries++
	if x.entries > x.lim.maxEntries {
		return fmt.Errorf("selfupdate: %w: more than %d entries", ErrUnsafeArchive, x.lim.maxEntries)
	}
	return nil
}

// add unpacks one entry.
func (x *extractor) add(e entry) error {
	if err := x.count(); err != nil {
		return err
	}
	name, err := x.claim(e.name, e.kind)
	if err != nil {
		return err
	}
	switch {
	case e.kind == kindDir:
		return x.mkdirAll(name)
	case e.kind == kindSymlink:
		return x.symlink(e.name, name, e.link)
	case e.hardlink:
		return x.hardlink(e.name, name, e.link)
	default:
		return x.file(e.name, name, e.size, e.exec, e.body)
	}
}
