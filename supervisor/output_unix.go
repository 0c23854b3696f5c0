//go:build unix

package supervisor

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

const (
	oNoFollow = syscall.O_NOFOLLOW
	oNonblock = syscall.O_NONBLOCK
)

func chmodFile(f *os.File, mode os.FileMode) error { return f.Chmod(mode) }

// inheritedJournal returns the supervisor's own stderr (or stdout) when it
// is the journal stream that JOURNAL_STREAM names, or nil.
func inheritedJournal() *os.File {
	d, i, ok := parseJournalStream(os.Getenv("JOURNAL_STREAM"))
	if !ok {
		return nil
	}
	for _, f := range []*os.File{os.Stderr, os.Stdout} {
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) == nil && uint64(st.Dev) == d && uint64(st.Ino) == i && st.Mode&syscall.S_IFMT == syscall.S_IFSOCK {
			return f
		}
	}
	return nil
}

// openJournal connects a stream to journald for a worker's output, with
// the header of systemd's stdout stream protocol; failing that, it passes
// on the journal stream the supervisor inherited.
func openJournal(o *Output) (stdout, stderr *os.File, err error) {
	f, dialErr := dialJournal(o)
	if dialErr == nil {
		return f, f, nil
	}
	if in := inheritedJournal(); in != nil {
		fd, err := syscall.Dup(int(in.Fd()))
		if err != nil {
			return nil, nil, fmt.Errorf("supervisor: journal stream: %w", err)
		}
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "journal")
		return f, f, nil
	}
	return nil, nil, fmt.Errorf("supervisor: journal: %w (and JOURNAL_STREAM names no inherited stream)", dialErr)
}

func dialJournal(o *Output) (*os.File, error) {
	c, err := net.DialTimeout("unix", o.JournalSocket, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	// identifier, unit id, priority (info), level prefix ("<3>" lines),
	// forward to syslog, to kmsg, to console.
	header := o.Identifier + "\n\n6\n1\n0\n0\n0\n"
	uc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := uc.Write([]byte(header)); err != nil {
		return nil, err
	}
	uc.CloseRead()
	f, err := uc.File()
	if err != nil {
		return nil, err
	}
	// The worker writes in blocking mode, as to any stream.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
