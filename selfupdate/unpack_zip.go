package selfupdate

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
)

func (x *extractor) zip(archive string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("selfupdate: unpack %s: %w", filepath.Base(archive), err)
	}
	defer zr.Close()
	if len(zr.File) > x.lim.maxEntries {
		return fmt.Errorf("selfupdate: %w: %d entries, more than %d", ErrUnsafeArchive, len(zr.File), x.lim.maxEntries)
	}
	if err := x.zipFits(zr.File); err != nil {
		return err
	}
	for _, zf := range zr.File {
		if err := x.zipEntry(zf); err != nil {
			return err
		}
	}
	return nil
}

// zipFits checks the sizes the central directory declares, all together,
// before anything is written.
func (x *extractor) zipFits(files []*zip.File) error {
	var total, disk uint64
	dirs := dirSet{}
	for _, zf := range files {
		name, err := cleanName(zf.Name, zf.Name)
		if err != nil {
			return err
		}
		disk += uint64(dirs.add(name, zf.Mode().IsDir())) * blockSize
		if x.free >= 0 && disk > uint64(x.free) {
			return fmt.Errorf("selfupdate: unpack: %w: entry %q: the archive's directories up to it take %d bytes, more than the %d free in %s (%d kept free)",
				ErrNoSpace, shortName(zf.Name), disk, x.free, x.dest, unpackReserve)
		}
		if len(dirs) > 2*x.lim.maxEntries {
			return fmt.Errorf("selfupdate: %w: entry %q: more than %d directories", ErrUnsafeArchive, shortName(zf.Name), 2*x.lim.maxEntries)
		}
		if !zf.Mode().IsRegular() {
			continue
		}
		if zf.UncompressedSize64 > math.MaxInt64/2 {
			return unsafeErr(zf.Name, fmt.Sprintf("declares %d bytes", zf.UncompressedSize64))
		}
		total += zf.UncompressedSize64
		disk += blockSize + (zf.UncompressedSize64+blockSize-1)/blockSize*blockSize
		if total > uint64(x.lim.maxBytes) {
			return fmt.Errorf("selfupdate: %w: entry %q: more than %d bytes unpacked, the archive declares", ErrUnsafeArchive, zf.Name, x.lim.maxBytes)
		}
		if x.free >= 0 && disk > uint64(x.free) {
			return fmt.Errorf("selfupdate: unpack: %w: entry %q: the archive declares %d bytes of files up to it, taking %d on disk, more than the %d free in %s (%d kept free)",
				ErrNoSpace, zf.Name, total, disk, x.free, x.dest, unpackReserve)
		}
	}
	return nil
}

func (x *extractor) zipEntry(zf *zip.File) error {
	mode := zf.Mode()
	e := entry{name: zf.Name, exec: mode&0o111 != 0}
	switch {
	case mode.IsDir():
		e.kind = kindDir
	case mode&fs.ModeSymlink != 0:
		e.kind = kindSymlink
		link, err := readZipEntry(zf, maxLinkTarget+1)
		if err != nil {
			return fmt.Errorf("selfupdate: unpack: entry %q: %w", zf.Name, err)
		}
		e.link = string(link)
	case mode.IsRegular():
		e.kind = kindFile
		e.size = int64(zf.UncompressedSize64)
		r, err := zf.Open()
		if err != nil {
			return fmt.Errorf("selfupdate: unpack: entry %q: %w", zf.Name, err)
		}
		defer r.Close()
		e.body = r
	default:
		return unsafeErr(zf.Name, fmt.Sprintf("has mode %v (devices, pipes and the like are refused)", mode))
	}
	return x.add(e)
}

func readZipEntry(zf *zip.File, limit int64) ([]byte, error) {
	r, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, limit))
}
