package selfupdate

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// declaredSize returns the unpacked size an archive declares, without
// unpacking it, where the format says so cheaply; ok is false where it
// does not. It is a hint for a check of free space before unpacking, not
// a bound: the unpacker checks every entry's declared size again, and
// never writes more than that.
//
//   - .zip: the sum of the entries' uncompressed sizes in the central
//     directory, exact for what unpacking writes (archive/zip refuses an
//     entry that holds more than its declared size).
//   - .tar.gz, .tgz: the gzip trailer's ISIZE (its last 4 bytes), the size
//     of the uncompressed tar stream modulo 2^32, tar headers and padding
//     included. It wraps for streams of 4 GiB and more, counts only the
//     last member of a multi-member gzip file, and is whatever the
//     archive's author wrote until the stream has been read to its end
//     (which is when gzip checks it). So it is an estimate for honest
//     packages only: a package of n < 4 GiB bytes of files declares a little
//     more than n.
func declaredSize(archive string) (size int64, ok bool, err error) {
	switch {
	case strings.HasSuffix(archive, ".zip"):
		return zipDeclaredSize(archive)
	case strings.HasSuffix(archive, ".tar.gz"), strings.HasSuffix(archive, ".tgz"):
		return gzipDeclaredSize(archive)
	}
	return 0, false, fmt.Errorf("selfupdate: size of %s: not a .tar.gz or .zip", filepath.Base(archive))
}

func zipDeclaredSize(archive string) (int64, bool, error) {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return 0, false, fmt.Errorf("selfupdate: size of %s: %w", filepath.Base(archive), err)
	}
	defer zr.Close()
	var total uint64
	for _, zf := range zr.File {
		if total += zf.UncompressedSize64; total > math.MaxInt64 || total < zf.UncompressedSize64 {
			return math.MaxInt64, true, nil
		}
	}
	return int64(total), true, nil
}

func gzipDeclaredSize(archive string) (int64, bool, error) {
	f, err := os.Open(archive)
	if err != nil {
		return 0, false, fmt.Errorf("selfupdate: size of %s: %w", filepath.Base(archive), err)
	}
	defer f.Close()
	var head [2]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || head != [2]byte{0x1f, 0x8b} {
		return 0, false, fmt.Errorf("selfupdate: size of %s: not a gzip file", filepath.Base(archive))
	}
	var trailer [4]byte
	end, err := f.Seek(-4, io.SeekEnd)
	if err == nil && end < 18-4 { // a gzip header and trailer take 18 bytes
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		_, err = io.ReadFull(f, trailer[:])
	}
	if err != nil {
		return 0, false, fmt.Errorf("selfupdate: size of %s: %w", filepath.Base(archive), err)
	}
	return int64(binary.LittleEndian.Uint32(trailer[:])), true, nil
}
