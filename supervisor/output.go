package supervisor

import (
	"github.com/ssmkit/ssmkit/internal/atomicfile"

	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// An OutputMode says where a worker's standard output and standard error
// go.
type OutputMode string

const (
	// OutputWriters sends the output through pipes that the supervisor
	// drains into Spec.Stdout and Spec.Stderr (the default). The pipes end
	// with the core: a worker that outlives its core (adopted after a
	// crash, or across an update handover) gets EPIPE, or dies of SIGPIPE,
	// at its next write. Use it for workers that never outlive the core.
	OutputWriters OutputMode = "writers"
	// OutputFile gives the worker, as its stdout and stderr, a descriptor
	// of Output.Path opened O_APPEND: the kernel writes the lines, no
	// reader is needed, and a worker keeps writing whether a core runs or
	// not. The supervisor rotates the file by size (copy, then truncate).
	OutputFile OutputMode = "file"
	// OutputJournal gives the worker, as its stdout and stderr, stream
	// connections to journald (systemd's stdout stream protocol, the
	// identifier Output.Identifier): journald is the reader, whoever the
	// worker's parent is. Where the journal's socket cannot be reached but
	// the supervisor's own stderr is a journal stream (JOURNAL_STREAM set by
	// systemd), that stream is passed on instead.
	OutputJournal OutputMode = "journal"
	// OutputAuto is OutputJournal when the supervisor runs under systemd
	// with its output in the journal (JOURNAL_STREAM set and naming its
	// stderr), and OutputFile otherwise.
	OutputAuto OutputMode = "auto"
)

// Output says where a worker's output goes. The zero value means
// OutputWriters.
type Output struct {
	// Mode is where the output goes; default OutputWriters, which uses
	// Spec.Stdout and Spec.Stderr. Other modes ignore those two, which must
	// then be nil.
	Mode OutputMode
	// Path is the log file, for OutputFile and OutputAuto; required there.
	// Its directory must exist. The file is created with mode 0640; an
	// existing file keeps its mode, and must be a regular file (a symlink is
	// refused).
	Path string
	// MaxBytes is the size past which the file is rotated: its head moves
	// to Path.1 (Path.1 to Path.2, and so on) without losing a line where
	// the file system can remove a file's head (ext4, XFS), else it is
	// copied and truncated. Default 10 MiB.
	// The size is checked every second while a supervisor runs, so the
	// file may exceed it by what the worker writes in a second; while no
	// core runs, nothing rotates it and it grows until the next core does.
	MaxBytes int64
	// Keep is the number of rotated files kept. Default 3.
	Keep int
	// Identifier is the journal's SYSLOG_IDENTIFIER for the worker's lines.
	// Default Spec.Name.
	Identifier string
	// JournalSocket is journald's stdout stream socket. Default
	// /run/systemd/journal/stdout.
	JournalSocket string
}

// Defaults of Output.
const (
	defaultOutputMaxBytes = 10 << 20
	defaultOutputKeep     = 3
	defaultJournalSocket  = "/run/systemd/journal/stdout"
	// outputCheckInterval is how often a log file's size is checked.
	outputCheckInterval = time.Second
)

// withDefaults fills in the defaults of o for spec, or returns an error
// naming the field.
func (o Output) withDefaults(spec *Spec) (Output, error) {
	bad := func(field, format string, args ...any) (Output, error) {
		return Output{}, fmt.Errorf("supervisor: spec %q: Output.%s: %s", spec.Name, field, fmt.Sprintf(format, args...))
	}
	switch o.Mode {
	case "":
		o.Mode = OutputWriters
	case OutputWriters, OutputFile, OutputJournal, OutputAuto:
	default:
		return bad("Mode", "unknown mode %q (want writers, file, journal or auto)", o.Mode)
	}
	if o.Mode != OutputWriters && (spec.Stdout != nil || spec.Stderr != nil) {
		return bad("Mode", "%s, but Stdout or Stderr is set: they are used with mode writers only", o.Mode)
	}
	if o.Mode == OutputFile || o.Mode == OutputAuto {
		if o.Path == "" {
			return bad("Path", "empty: mode %s needs a log file", o.Mode)
		}
		if !filepath.IsAbs(o.Path) {
			return bad("Path", "%q is not absolute", o.Path)
		}
	}
	if o.MaxBytes < 0 {
		return bad("MaxBytes", "negative (%d)", o.MaxBytes)
	}
	if o.Keep < 0 {
		return bad("Keep", "negative (%d)", o.Keep)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultOutputMaxBytes
	}
	if o.Keep == 0 {
		o.Keep = defaultOutputKeep
	}
	if o.Identifier == "" {
		o.Identifier = spec.Name
	}
	if strings.ContainsAny(o.Identifier, "\n\x00") {
		return bad("Identifier", "contains a newline or NUL")
	}
	if o.JournalSocket == "" {
		o.JournalSocket = defaultJournalSocket
	}
	return o, nil
}

// effective returns the mode that applies now: OutputAuto resolved.
func (o *Output) effective() OutputMode {
	if o.Mode != OutputAuto {
		return o.Mode
	}
	if inheritedJournal() != nil {
		return OutputJournal
	}
	return OutputFile
}

// parseJournalStream parses JOURNAL_STREAM, "<device>:<inode>" in
// decimal, as systemd sets it.
func parseJournalStream(v string) (dev, ino uint64, ok bool) {
	d, i, found := strings.Cut(v, ":")
	if !found {
		return 0, 0, false
	}
	dev, err1 := strconv.ParseUint(d, 10, 64)
	ino, err2 := strconv.ParseUint(i, 10, 64)
	return dev, ino, err1 == nil && err2 == nil
}

// openOutput returns the file (or files) to give a worker as its stdout
// and stderr, for modes other than OutputWriters. The caller closes them
// once the worker has started.
func openOutput(o *Output) (stdout, stderr *os.File, err error) {
	switch o.effective() {
	case OutputFile:
		f, err := openLogFile(o.Path)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	case OutputJournal:
		return openJournal(o)
	}
	return nil, nil, fmt.Errorf("supervisor: output mode %s has no files", o.Mode)
}

// openLogFile opens path for appending: created 0640 if missing (the mode
// set explicitly, whatever the umask), never through a symlink, and only if
// it is a regular file.
func openLogFile(path string) (*os.File, error) {
	// Only a regular file of one link is appended to: a symbolic link, a
	// hard link to another file, a FIFO planted at the name is removed (the
	// name, never what it points to) and a file of the worker's own made.
	f, err := atomicfile.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if errors.Is(err, atomicfile.ErrUnsafe) {
		if rerr := os.Remove(path); rerr == nil || errors.Is(rerr, fs.ErrNotExist) {
			f, err = atomicfile.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("supervisor: log file: %w", err)
	}
	return f, nil
}

// fileTail returns the last n bytes of the file at path, from the start of
// a line where one begins in them.
func fileTail(path string, n int64) string {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow|oNonblock, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	k, _ := f.ReadAt(b, off)
	b = b[:k]
	if off > 0 {
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i+1 < len(b) {
			b = b[i+1:]
		}
	}
	return string(b)
}

// rotateLog rotates the log file at path when it is larger than maxBytes:
// Path.N-1 becomes Path.N (the oldest beyond keep removed), and the file's
// head moves to Path.1. The worker's descriptor is opened O_APPEND, so its
// next write goes to the new end, whichever process holds it.
//
// Where the file system can remove the head of a file in place (Linux
// FALLOC_FL_COLLAPSE_RANGE: ext4, XFS), the whole blocks of the file are
// copied to Path.1 and removed from it, atomically with respect to the
// worker's appends: nothing is lost, and the line that spans the block
// boundary continues from the end of Path.1 into the file. Elsewhere (tmpfs,
// or a file smaller than a block) the file is copied and then truncated: a
// line written between the end of the copy and the truncation is lost, a
// window the time of one truncate call.
func rotateLog(path string, maxBytes int64, keep int) (bool, error) {
	// Never through a link: truncating a hard link cuts another file.
	f, err := atomicfile.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("supervisor: rotate log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= maxBytes {
		return false, err
	}
	os.Remove(path + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1))
	}
	dst := path + ".1"
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o640)
	if err != nil {
		return false, fmt.Errorf("supervisor: rotate log: %w", err)
	}
	defer out.Close()
	if err := chmodFile(out, fi.Mode().Perm()&0o640); err != nil {
		return false, fmt.Errorf("supervisor: rotate log: %w", err)
	}
	if moveHead(f, out, fi.Size()) {
		return true, nil
	}
	// At most rotateCap(maxBytes) are kept of the file (all of it, unless
	// a flood outran the rotation), and as much of what was appended during
	// that copy: a worker that floods faster than the copy loses the middle
	// of its flood, never the bound on disk.
	limit := rotateCap(maxBytes)
	head := min(fi.Size(), limit)
	if _, err := io.CopyN(out, io.NewSectionReader(f, fi.Size()-head, head), head); err != nil && err != io.EOF {
		return false, fmt.Errorf("supervisor: rotate log: copy to %s: %w", dst, err)
	}
	if rest, err := f.Seek(0, io.SeekEnd); err == nil && rest > fi.Size() {
		n := min(rest-fi.Size(), limit)
		if _, err := io.CopyN(out, io.NewSectionReader(f, rest-n, n), n); err != nil && err != io.EOF {
			return false, fmt.Errorf("supervisor: rotate log: copy to %s: %w", dst, err)
		}
	}
	if err := f.Truncate(0); err != nil {
		return false, fmt.Errorf("supervisor: rotate log: truncate %s: %w", path, err)
	}
	return true, nil
}

// rotateCap is what one rotation keeps at most of a file and of what was
// appended while it was copied.
func rotateCap(maxBytes int64) int64 { return max(4*maxBytes, 64<<20) }

// rotateLoop keeps a worker's log file within its size until done closes.
func rotateLoop(o *Output, done <-chan struct{}) {
	t := time.NewTicker(outputCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if o.effective() == OutputFile {
				rotateLog(o.Path, o.MaxBytes, o.Keep)
			}
		case <-done:
			return
		}
	}
}
