package selfupdate

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func (x *extractor) tarGz(archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	defer f.Close()
	if isize, ok, err := gzipDeclaredSize(archive); err == nil && ok {
		if err := x.streamFits(filepath.Base(archive), isize); err != nil {
			return err
		}
	}
	if err := x.prescanTar(archive); err != nil {
		return err
	}
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
		e := entry{name: h.Name, size: h.Size, exec: h.Mode&0o111 != 0, link: h.Linkname, body: tr}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader: // metadata for the archive (git archive writes one)
			if err := x.count(); err != nil {
				return err
			}
			continue
		case tar.TypeDir:
			e.kind = kindDir
		case tar.TypeReg:
			e.kind = kindFile
		case tar.TypeLink:
			e.kind, e.hardlink = kindFile, true
		case tar.TypeSymlink:
			e.kind = kindSymlink
		default:
			return unsafeErr(h.Name, fmt.Sprintf("is of type %q (devices, pipes and the like are refused)", string(h.Typeflag)))
		}
		if err := x.add(e); err != nil {
			return err
		}
	}
}

// Tar's own bytes beside the files' (a header, padding, extended headers)
// that streamFits allows per entry, and for the end of the archive.
const (
	tarEntryOverhead = 4096
	tarEndOverhead   = 1024
)

// streamFits refuses, before anything is written, a .tar.gz whose gzip
// trailer says its tar stream is too long for the limit or the room on
// disk. The trailer is a lower bound of the stream's length (the length of
// the last gzip member, modulo 2^32), and the files take at least that
// less tar's own bytes, allowed generously for the most entries there may
// be. An archive that lies in its trailer is refused here or by gzip at its
// end; one that wraps it is checked entry by entry as it is unpacked.
func (x *extractor) streamFits(archive string, isize int64) error {
	files := isize - int64(x.lim.maxEntries)*tarEntryOverhead - tarEndOverhead
	if files > x.lim.maxBytes {
		return fmt.Errorf("selfupdate: %w: %s: its gzip trailer declares %d bytes of tar, so more than %d bytes unpacked",
			ErrUnsafeArchive, archive, isize, x.lim.maxBytes)
	}
	if x.free >= 0 && files > x.free {
		return fmt.Errorf("selfupdate: unpack: %w: %s: its gzip trailer declares %d bytes of tar, at least %d of files, more than the %d free in %s (%d kept free)",
			ErrNoSpace, archive, isize, files, x.free, x.dest, unpackReserve)
	}
	return nil
}

// prescanTar checks the archive's headers before anything is written, and
// refuses it when its entries are too many or its files and directories
// add up to more than the byte limit or the room on disk: a bomb is
// refused having written nothing, however it is split into gzip members
// (whose trailers say little). The headers are those read while the
// package was downloaded (lim.headers), or else read from the file now —
// stopping at the first past a limit — which costs an honest package one
// decompression more.
func (x *extractor) prescanTar(archive string) error {
	c := x.newHeaderCheck()
	th := x.lim.headers
	if th == nil || th.over {
		f, err := os.Open(archive)
		if err != nil {
			return fmt.Errorf("selfupdate: %w", err)
		}
		th = scanTar(f, 2*x.lim.maxEntries, c.add)
		f.Close()
		if th.checkErr != nil {
			return th.checkErr
		}
	} else {
		for _, h := range th.hdrs {
			if err := c.add(h); err != nil {
				return err
			}
		}
	}
	if th.err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), th.err)
	}
	if th.over {
		return fmt.Errorf("selfupdate: %w: more than %d entries", ErrUnsafeArchive, 2*x.lim.maxEntries)
	}
	return nil
}

// A headerCheck applies prescanTar's limits to headers, one at a time.
type headerCheck struct {
	x       *extractor
	entries int
	total   int64
	dirs    dirSet
}

func (x *extractor) newHeaderCheck() *headerCheck { return &headerCheck{x: x, dirs: dirSet{}} }

func (c *headerCheck) add(h archiveHeader) error {
	x := c.x
	if h.typeflag == tar.TypeXGlobalHeader {
		c.entries++
		return nil
	}
	name, err := cleanName(h.name, h.name)
	if err != nil {
		return err
	}
	made := c.dirs.add(name, h.typeflag == tar.TypeDir)
	c.entries += 1 + made
	c.total += int64(made) * blockSize
	if c.entries > x.lim.maxEntries*2 { // each entry and the directories it makes
		return fmt.Errorf("selfupdate: %w: entry %q: more than %d entries and directories", ErrUnsafeArchive, shortName(h.name), x.lim.maxEntries*2)
	}
	if h.typeflag == tar.TypeReg && h.size > 0 {
		c.total += blockSize + (h.size+blockSize-1)/blockSize*blockSize // as the unpacking charges it
	}
	switch {
	case c.total > x.lim.maxBytes || c.total < 0:
		return fmt.Errorf("selfupdate: %w: entry %q: the archive's files add up to more than %d bytes", ErrUnsafeArchive, shortName(h.name), x.lim.maxBytes)
	case x.free >= 0 && c.total > x.free:
		return fmt.Errorf("selfupdate: unpack: %w: entry %q: the archive's files and directories add up to %d bytes or more, over the %d free in %s (%d kept free)",
			ErrNoSpace, shortName(h.name), c.total, x.free, x.dest, unpackReserve)
	}
	return nil
}

// tarHeaders are the headers of a .tar.gz, in order.
type tarHeaders struct {
	hdrs     []archiveHeader
	over     bool  // more headers than were kept
	err      error // the stream is not a readable .tar.gz
	checkErr error // what the check refused, which stopped the reading
}

type archiveHeader struct {
	name     string
	typeflag byte
	size     int64
}

// scanTar reads a .tar.gz stream and returns its headers, at most limit of
// them (over says there were more), each passed to check if it is not nil;
// a check's error stops the reading. It reads all of r in any case (the
// rest without decompressing it), so that a writer feeding it through a
// pipe never waits.
func scanTar(r io.Reader, limit int, check func(archiveHeader) error) *tarHeaders {
	th := &tarHeaders{}
	defer io.Copy(io.Discard, r)
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, copyBuffer))
	if err != nil {
		th.err = err
		return th
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return th
		}
		if err != nil {
			th.err = err
			return th
		}
		if len(th.hdrs) >= limit {
			th.over = true
			return th
		}
		if len(h.Name) > maxNameBytes { // refused by name; the name need not be kept whole
			h.Name = h.Name[:maxNameBytes+1]
		}
		ah := archiveHeader{name: h.Name, typeflag: h.Typeflag, size: h.Size}
		th.hdrs = append(th.hdrs, ah)
		if check != nil {
			if err := check(ah); err != nil {
				th.checkErr = err
				return th
			}
		}
	}
}
