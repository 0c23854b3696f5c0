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

// prescanTar reads the archive's headers before anything is written, and
// refuses it when its entries are too many or its files add up to more
// than the byte limit or the room on disk: a bomb is refused having
// written nothing, however it is split into gzip members (whose trailers
// say little). Reading stops at the first header past a limit; an honest
// package costs one decompression more.
func (x *extractor) prescanTar(archive string) error {
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
	var entries int
	var total int64
	dirs := dirSet{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			entries++
			continue
		}
		name, err := cleanName(h.Name, h.Name)
		if err != nil {
			return err
		}
		made := dirs.add(name, h.Typeflag == tar.TypeDir)
		entries += 1 + made
		total += int64(made) * blockSize
		if entries > x.lim.maxEntries*2 { // each entry and the directories it makes
			return fmt.Errorf("selfupdate: %w: entry %q: more than %d entries and directories", ErrUnsafeArchive, shortName(h.Name), x.lim.maxEntries*2)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			total += blockSize + (h.Size+blockSize-1)/blockSize*blockSize // as the unpacking charges it
		}
		switch {
		case total > x.lim.maxBytes || total < 0:
			return fmt.Errorf("selfupdate: %w: entry %q: the archive's files add up to more than %d bytes", ErrUnsafeArchive, shortName(h.Name), x.lim.maxBytes)
		case x.free >= 0 && total > x.free:
			return fmt.Errorf("selfupdate: unpack: %w: entry %q: the archive's files and directories add up to %d bytes or more, over the %d free in %s (%d kept free)",
				ErrNoSpace, shortName(h.Name), total, x.free, x.dest, unpackReserve)
		}
	}
}
