package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startupSettle is how long after its start a core or worker releases the
// pages of its binary that only its start used (releaseStartupPages).
const startupSettle = 5 * time.Second

// gcReleaseGap is the least time between two releases that follow a
// garbage collection.
const gcReleaseGap = 30 * time.Second

// releaseStartupPagesLater releases the start-up pages once the process
// has settled, and again after the garbage collections that follow (at
// most once per gcReleaseGap): a collection reads the type data of every
// object it marks and the function tables of every frame on every stack,
// which, in an idle process, nothing else reads until the next one.
func releaseStartupPagesLater() {
	time.AfterFunc(startupSettle, func() {
		releaseStartupPages()
		afterEachGC(gcReleaseGap, func() bool { releaseStartupPages(); return true })
	})
}

// afterEachGC calls f, in a goroutine of its own, after each garbage
// collection from now on, skipping those that come less than gap after
// f's last call, for as long as f returns true.
func afterEachGC(gap time.Duration, f func() bool) { armGCWatch(gcWatch{gap: gap, f: f}) }

// A gcWatch is afterEachGC's state, handed from one sentinel to the next.
type gcWatch struct {
	gap  time.Duration
	f    func() bool
	last time.Time
}

// A gcSentinel is an object nothing references, whose cleanup runs once a
// collection has found it unreachable. It holds a pointer so that it is
// not packed with other small objects (whose cleanups may never run).
type gcSentinel struct {
	_ *byte
	_ [8]byte
}

// armGCWatch arms a sentinel for the next collection.
func armGCWatch(w gcWatch) {
	runtime.AddCleanup(new(gcSentinel), func(w gcWatch) {
		if !w.last.IsZero() && time.Since(w.last) < w.gap {
			armGCWatch(w)
			return
		}
		go func() {
			if w.f() {
				w.last = time.Now()
				armGCWatch(w)
			}
		}()
	}, w)
}

// releaseStartupPages unmaps this process's pages of its own executable's
// read-only mappings (code, read-only data, the function tables), so that
// what stays mapped is what the process uses from then on.
//
// Start-up runs every package's init: with the AWS SDK linked, that is
// code and data spread over nearly the whole binary, and the kernel maps
// the pages around each one touched (fault-around), so an idle core and
// worker would keep mapping some 10 MB of a binary they no longer use.
// Released pages are not lost: they stay in the page cache and a later use
// maps them again (a minor fault). What changes is that they no longer
// count in the process's RSS and PSS, and the kernel can reclaim them
// without first unmapping them from two processes.
//
// Only mappings that are the file's bytes are released: a mapping with a
// page of its own (copied on write: a relocation, a debugger's breakpoint,
// a uprobe — counted as Anonymous) is left alone, since releasing it would
// put back the file's bytes. (Dirty page-cache pages of a binary just
// written are the file's bytes and safe to unmap.) It returns the bytes
// released, 0 if it released nothing.
func releaseStartupPages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	spans := releasableSpans(f, exe)
	f.Close()
	var released int64
	for _, s := range spans {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED); errno == 0 {
			released += int64(s.rss)
		}
	}
	return released
}

// A mappedSpan is one mapping of /proc/self/smaps.
type mappedSpan struct {
	start, end uintptr
	perms      string
	path       string
	rss        int  // bytes
	own        bool // has pages of its own (anonymous: copied on write)
}

// releasableSpans returns the mappings of smaps that releaseStartupPages
// may release: private read-only mappings of the file exe (with or without
// execute permission) that have no anonymous page.
func releasableSpans(smaps io.Reader, exe string) []mappedSpan {
	var spans []mappedSpan
	var cur *mappedSpan
	keep := func() {
		if cur != nil && cur.path == exe && (cur.perms == "r-xp" || cur.perms == "r--p") && !cur.own && cur.end > cur.start {
			spans = append(spans, *cur)
		}
	}
	// Read line by line into one small buffer: the whole file of a Go
	// process is tens of kilobytes, garbage the idle heap would keep.
	sc := bufio.NewScanner(smaps)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Bytes()
		key, value, ok := bytes.Cut(line, []byte(":"))
		if ok && cur != nil && !bytes.ContainsRune(key, ' ') && bytes.HasSuffix(value, []byte(" kB")) {
			kb, err := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(value, []byte(" kB")))))
			switch {
			case err != nil:
			case string(key) == "Rss":
				cur.rss = kb << 10
			case string(key) == "Anonymous":
				cur.own = kb != 0
			}
			continue
		}
		if s, ok := parseMapsLine(string(line)); ok {
			keep()
			cur = &s
		}
	}
	keep()
	return spans
}

// parseMapsLine parses a mapping's line of smaps:
// "start-end perms offset dev inode [path]".
func parseMapsLine(line string) (mappedSpan, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return mappedSpan{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return mappedSpan{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || len(f[1]) != 4 {
		return mappedSpan{}, false
	}
	s := mappedSpan{start: uintptr(start), end: uintptr(end), perms: f[1]}
	if len(f) >= 6 {
		// The path is the rest of the line after the inode, spaces and
		// all (" (deleted)" for a binary an update replaced).
		_, rest, _ := strings.Cut(line, " "+f[4]+" ")
		s.path = strings.TrimSpace(rest)
	}
	return s, true
}
