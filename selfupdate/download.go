package selfupdate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// ErrChecksum is wrapped by the error about a package whose SHA-256 is not
// the manifest's.
var ErrChecksum = errors.New("checksum mismatch")

// ErrNoSpace is wrapped by the error about a disk without room for a
// download.
var ErrNoSpace = errors.New("not enough disk space")

// copyBuffer is the buffer size of downloads and unpacking.
const copyBuffer = 256 << 10

// Defaults of SpaceRule.
const (
	DefaultUnpackFactor = 2
	DefaultSpaceMargin  = 8 << 20
)

// A SpaceRule says how much free space an update wants before it
// downloads a package of S bytes, of which D are already downloaded: the
// S-D bytes still to download into StateDir/downloads, UnpackFactor×S
// bytes (at most MaxUnpackedBytes) to unpack into InstallDir/versions, and
// Margin bytes on top. When the two directories are on one file system it
// must have room for the sum; otherwise each for its own part plus
// Margin. For a source that does not say the package's size only the
// Margin is checked first. The unpacker checks the sizes its archive
// declares against the room left as it writes them. The zero value is
// the default.
type SpaceRule struct {
	// UnpackFactor is how many times its size a package is expected to
	// take once unpacked; default 2 (DefaultUnpackFactor).
	UnpackFactor float64
	// Margin is the fixed number of bytes kept free; default 8 MiB
	// (DefaultSpaceMargin).
	Margin int64
}

// setDefaults fills the zero fields and checks the others.
func (r *SpaceRule) setDefaults() error {
	if r.UnpackFactor < 0 || math.IsNaN(r.UnpackFactor) || math.IsInf(r.UnpackFactor, 0) {
		return fmt.Errorf("selfupdate: Config.FreeSpace.UnpackFactor %v: must be a finite number >= 0", r.UnpackFactor)
	}
	if r.Margin < 0 {
		return fmt.Errorf("selfupdate: Config.FreeSpace.Margin %d: must be >= 0", r.Margin)
	}
	setDefault(&r.UnpackFactor, DefaultUnpackFactor)
	setDefault(&r.Margin, DefaultSpaceMargin)
	return nil
}

// A fetchSpec says what to download where, within which limits.
type fetchSpec struct {
	url, path, sum string
	maxBytes       int64
	// unpackDir, when set, is where the package will be unpacked: its
	// room is checked too, factor times the package, at most maxUnpacked.
	unpackDir   string
	factor      float64
	maxUnpacked int64
	margin      int64
	// sweep deletes the other files of path's directory first.
	sweep bool
	// headers, when set, receives the headers of the .tar.gz downloaded,
	// read as it streams in (a resumed download gives none).
	headers **tarHeaders
	// maxHeaders and maxHeaderBytes bound the headers kept, and the bytes
	// they may declare before the rest is not decompressed.
	maxHeaders     int
	maxHeaderBytes int64
}

// downloadPackage downloads an update's package to path with the
// updater's limits and space rule; for a .tar.gz it also returns its
// headers, read as it streamed in, when it could (nil otherwise).
func (u *Updater) downloadPackage(ctx context.Context, url, path, wantSum string) (*tarHeaders, error) {
	var th *tarHeaders
	s := fetchSpec{
		url: url, path: path, sum: wantSum, maxBytes: u.cfg.MaxPackageBytes,
		unpackDir: existingDir(filepath.Join(u.cfg.InstallDir, "versions")), factor: u.cfg.FreeSpace.UnpackFactor,
		maxUnpacked: u.cfg.MaxUnpackedBytes, margin: u.cfg.FreeSpace.Margin, sweep: true,
	}
	if strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz") {
		s.headers, s.maxHeaders, s.maxHeaderBytes = &th, 2*u.cfg.MaxEntries, u.cfg.MaxUnpackedBytes
	}
	err := fetch(ctx, u.cfg.Source, s)
	return th, err
}

// existingDir is dir, or its nearest parent that exists: the file system
// that dir will be on.
func existingDir(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

// download fetches url to path, at most maxBytes, wanting margin bytes
// free beyond the rest of the file (see fetch).
func download(ctx context.Context, src Source, url, path, wantSum string, maxBytes, margin int64) error {
	return fetch(ctx, src, fetchSpec{url: url, path: path, sum: wantSum, maxBytes: maxBytes, margin: margin})
}

// fetch downloads s.url to s.path, streaming through a SHA-256 into a
// path.partial file. Beside it, path.partial.etag records the object the
// bytes came from (URL, ETag, size): a later call resumes with a range
// request only from the same object, and starts over otherwise. Only a
// download cut short by the network (a reset, a timeout) is kept to
// resume; any other failure — a checksum mismatch, a package over the
// limit or over its announced size, a refused URL or redirect, a server's
// error, no room — deletes what was downloaded.
func fetch(ctx context.Context, src Source, s fetchSpec) (err error) {
	p := partialFiles(s.path)
	if s.sweep {
		sweepExcept(filepath.Dir(s.path), filepath.Base(p.data), filepath.Base(p.meta))
	}
	h := sha256.New()
	keep := false
	defer func() {
		if err != nil && !keep {
			p.remove()
		}
	}()
	offset, meta := p.load(s.url, h)
	obj, err := openFrom(ctx, src, s.url, offset, meta)
	if err != nil {
		keep = offset > 0 && transient(err)
		return err
	}
	defer obj.Body.Close()
	if obj.Offset == 0 && offset > 0 { // a whole object: start over
		h.Reset()
		offset = 0
	}
	if obj.Size > s.maxBytes {
		return fmt.Errorf("selfupdate: %s is %d bytes, the limit is %d", s.url, obj.Size, s.maxBytes)
	}
	if err := s.checkRoom(obj.Size, offset); err != nil {
		return err
	}
	resumable := offset > 0 // the partial's record stands
	if offset == 0 {
		p.remove()
		resumable = p.saveMeta(partialMeta{URL: s.url, ETag: obj.ETag, Size: obj.Size})
	}
	var scan *headerScan
	if s.headers != nil && offset == 0 {
		scan = startHeaderScan(s.maxHeaders, s.maxHeaderBytes)
	}
	total, readErr, err := p.write(obj, offset, s.maxBytes, h, scan)
	if th := scan.finish(); err == nil && s.headers != nil {
		*s.headers = th
	}
	switch {
	case err != nil:
		keep = resumable && readErr
		return fmt.Errorf("selfupdate: download %s: %w (%d bytes downloaded)", s.url, err, total)
	case total > s.maxBytes:
		return fmt.Errorf("selfupdate: %s is over the limit of %d bytes", s.url, s.maxBytes)
	case obj.Size >= 0 && total > obj.Size:
		return fmt.Errorf("selfupdate: %s sent more than the %d bytes it announced", s.url, obj.Size)
	case obj.Size >= 0 && total < obj.Size:
		keep = resumable
		return fmt.Errorf("selfupdate: download %s: cut short at %d of %d bytes", s.url, total, obj.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, s.sum) {
		return fmt.Errorf("selfupdate: %s: %w: SHA-256 %s, the manifest says %s", s.url, ErrChecksum, got, strings.ToLower(s.sum))
	}
	if err := os.Rename(p.data, s.path); err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	os.Remove(p.meta)
	return nil
}

// openFrom opens url at offset, and from 0 again when what the source
// sends from offset is not of the object the partial download came from.
func openFrom(ctx context.Context, src Source, url string, offset int64, meta partialMeta) (*Object, error) {
	if offset == 0 {
		return src.Open(ctx, url, Request{})
	}
	obj, err := src.Open(ctx, url, Request{Offset: offset, IfRange: meta.ETag})
	if err != nil || obj.Offset == 0 {
		return obj, err
	}
	if obj.Offset != offset {
		obj.Body.Close()
		return nil, fmt.Errorf("selfupdate: %s: asked for the bytes from %d, got them from %d", url, offset, obj.Offset)
	}
	if meta.same(obj) {
		return obj, nil
	}
	obj.Body.Close()
	return src.Open(ctx, url, Request{})
}

// checkRoom applies the space rule to an object of size bytes (-1 if
// unknown) of which offset are downloaded.
func (s fetchSpec) checkRoom(size, offset int64) error {
	rest, unpacked := int64(0), int64(0)
	if size >= 0 {
		rest = size - offset
		f := math.Ceil(s.factor * float64(size))
		switch {
		case s.maxUnpacked > 0 && f > float64(s.maxUnpacked):
			unpacked = s.maxUnpacked
		case f >= math.MaxInt64:
			unpacked = math.MaxInt64
		default:
			unpacked = int64(f)
		}
	}
	dir := filepath.Dir(s.path)
	if s.unpackDir == "" || sameFS(dir, s.unpackDir) {
		return s.room(dir, addSat(rest, unpacked, s.margin), rest, unpacked)
	}
	if err := s.room(dir, addSat(rest, s.margin), rest, 0); err != nil {
		return err
	}
	return s.room(s.unpackDir, addSat(unpacked, s.margin), 0, unpacked)
}

// room checks that dir has need bytes free. A file system that cannot say
// is not checked.
func (s fetchSpec) room(dir string, need, rest, unpacked int64) error {
	free, err := freeBytes(dir)
	if err != nil || free >= need {
		return nil
	}
	return fmt.Errorf("selfupdate: download %s: %w: %d bytes free in %s, %d needed (%d to download, %d to unpack, %d margin)",
		s.url, ErrNoSpace, free, dir, need, rest, unpacked, s.margin)
}

// addSat adds non-negative numbers, saturating at math.MaxInt64.
func addSat(xs ...int64) int64 {
	var sum int64
	for _, x := range xs {
		if sum > math.MaxInt64-x {
			return math.MaxInt64
		}
		sum += x
	}
	return sum
}

// transient says whether err is the network's (a reset, a timeout, a
// cancellation), after which a partial download is worth keeping.
func transient(err error) bool {
	if errors.Is(err, ErrURLRefused) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// sweepExcept deletes the entries of dir other than keep: the packages,
// partial downloads and temporary files of earlier updates.
func sweepExcept(dir string, keep ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// partial names the files of a download in progress: the bytes so far,
// and what they are of.
type partial struct{ data, meta string }

func partialFiles(path string) partial {
	return partial{data: path + ".partial", meta: path + ".partial.etag"}
}

// partialMeta is what path.partial.etag says: the object a partial
// download comes from.
type partialMeta struct {
	URL  string `json:"url"`
	ETag string `json:"etag,omitempty"`
	Size int64  `json:"size"` // -1 if unknown
}

// resumable says whether the object can be told apart from another: by a
// strong ETag or, without one, by its size.
func (m partialMeta) resumable() bool { return strongETag(m.ETag) || m.Size >= 0 }

// same says whether obj is the object m describes.
func (m partialMeta) same(obj *Object) bool {
	if strongETag(m.ETag) {
		return obj.ETag == m.ETag && (m.Size < 0 || obj.Size == m.Size)
	}
	return m.Size >= 0 && obj.Size == m.Size && obj.ETag == m.ETag
}

func strongETag(etag string) bool { return etag != "" && !strings.HasPrefix(etag, "W/") }

func (p partial) remove() {
	os.Remove(p.data)
	os.Remove(p.meta)
}

// load returns the size of a partial download of url, fed to h, and what
// it is of; 0 (and nothing left) when there is none worth resuming.
func (p partial) load(url string, h hash.Hash) (int64, partialMeta) {
	var m partialMeta
	b, err := atomicfile.ReadFile(p.meta)
	if err != nil || json.Unmarshal(b, &m) != nil || m.URL != url || !m.resumable() {
		p.remove()
		return 0, partialMeta{}
	}
	f, err := openRegular(p.data, os.O_RDONLY)
	if err != nil {
		p.remove()
		return 0, partialMeta{}
	}
	defer f.Close()
	n, err := io.CopyBuffer(h, f, make([]byte, copyBuffer))
	if err != nil || n == 0 || (m.Size >= 0 && n >= m.Size) {
		h.Reset()
		p.remove()
		return 0, partialMeta{}
	}
	return n, m
}

// saveMeta records what a new download is of, and says whether it can be
// resumed.
func (p partial) saveMeta(m partialMeta) bool {
	if !m.resumable() {
		return false
	}
	b, err := json.Marshal(m)
	return err == nil && replaceFile(p.meta, b) == nil
}

// replaceFile writes a file of mode 0600 by renaming a temporary one over
// it: atomic, but not synced (like the partial download it describes, it
// may be lost in a crash, and the download then starts over). Syncing
// here would make the file system write out other files' data too.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Chmod(0o600); err == nil && runtime.GOOS != "windows" {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// write copies obj's body into the partial file from offset, through h,
// accepting at most one byte more than the limit and obj's announced size
// (so that more can be told). readErr says whether err is the body's.
func (p partial) write(obj *Object, offset, maxBytes int64, h hash.Hash, scan *headerScan) (total int64, readErr bool, err error) {
	var f *os.File
	if offset == 0 { // a new file, never what a link points to
		f, err = os.OpenFile(p.data, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	} else {
		f, err = openRegular(p.data, os.O_WRONLY)
	}
	if err != nil {
		return offset, false, err
	}
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return offset, false, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return offset, false, err
	}
	limit := maxBytes
	if obj.Size >= 0 && obj.Size < limit {
		limit = obj.Size
	}
	body := &errReader{r: io.LimitReader(obj.Body, limit-offset+1)}
	consumers := []io.Writer{h}
	if scan != nil {
		consumers = append(consumers, scan.pw)
	}
	n, err := fanout(f, body, consumers...)
	// The package need not reach the disk: a crash means downloading
	// again (a partial file that lost bytes fails the checksum and is
	// deleted), and unpacking syncs what it writes.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return offset + n, err != nil && body.err != nil && errors.Is(err, body.err), err
}

// openRegular opens an existing regular file, not following a symbolic
// link: what it opened must be what Lstat saw.
func openRegular(path string, flag int) (*os.File, error) {
	before, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("selfupdate: %s is not a regular file", path)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, fmt.Errorf("selfupdate: %s changed while being opened", path)
	}
	return f, nil
}

// errReader remembers its reader's error.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// fanout copies r to w and hands the same bytes, not copied again, to each
// of the consumers, every one on a goroutine of its own: the bytes are
// read into one of a few buffers, written to w, and passed on; a buffer is
// reused once every consumer is done with it, which bounds memory. It
// returns once the consumers have had everything.
func fanout(w io.Writer, r io.Reader, consumers ...io.Writer) (int64, error) {
	const buffers = 6
	type chunk struct {
		b    []byte
		n    int
		left atomic.Int32
	}
	free := make(chan *chunk, buffers)
	for range buffers {
		free <- &chunk{b: make([]byte, copyBuffer)}
	}
	feeds := make([]chan *chunk, len(consumers))
	var wg sync.WaitGroup
	for i, c := range consumers {
		feeds[i] = make(chan *chunk, buffers)
		wg.Go(func() {
			for ch := range feeds[i] {
				c.Write(ch.b[:ch.n])
				if ch.left.Add(-1) == 0 {
					free <- ch
				}
			}
		})
	}
	var total int64
	var err error
	for err == nil {
		ch := <-free
		ch.n, err = fill(r, ch.b)
		if ch.n > 0 {
			if _, werr := w.Write(ch.b[:ch.n]); werr != nil {
				err = werr
			} else {
				total += int64(ch.n)
			}
		}
		if ch.n == 0 || len(consumers) == 0 || (err != nil && err != io.EOF) {
			free <- ch
			continue
		}
		ch.left.Store(int32(len(consumers)))
		for _, f := range feeds {
			f <- ch
		}
	}
	for _, f := range feeds {
		close(f)
	}
	wg.Wait()
	if err == io.EOF {
		err = nil
	}
	return total, err
}

// fill reads into b until it is full or r ends (io.EOF) or fails.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A headerScan reads a .tar.gz's headers from the bytes of its download,
// on goroutines of its own, so that unpacking need not read the file an
// extra time before it writes anything.
type headerScan struct {
	pw   *io.PipeWriter
	done chan *tarHeaders
}

func startHeaderScan(limit int, maxBytes int64) *headerScan {
	pr, pw := io.Pipe()
	s := &headerScan{pw: pw, done: make(chan *tarHeaders, 1)}
	// Past the byte limit the rest is not decompressed: a bomb costs
	// neither disk nor much CPU here; unpacking refuses it by these
	// headers.
	var total int64
	check := func(h archiveHeader) error {
		if total += max(h.size, 0); total > maxBytes || total < 0 {
			return errOverLimit
		}
		return nil
	}
	go func() {
		th := scanTar(pr, limit, check)
		if th.checkErr != nil {
			th.over = true // read again from the file, by unpacking's own limits
		}
		s.done <- th
	}()
	return s
}

var errOverLimit = errors.New("over the byte limit")

// finish ends the stream and returns the headers read (nil for a nil
// scan).
func (s *headerScan) finish() *tarHeaders {
	if s == nil {
		return nil
	}
	s.pw.Close()
	return <-s.done
}
