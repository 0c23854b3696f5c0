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
		case tar.TypeXGlobalHeader:
			continue // metadata for the archive (git archive writes one)
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
