package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// smapsSample is /proc/self/smaps of a process of /opt/agent/ssm-agent:
// its text, read-only data, a read-only mapping with a page copied on
// write (a breakpoint), its data, the heap, and libc.
const smapsSample = `00400000-00a3c000 r-xp 00000000 fe:00 1001                       /opt/agent/ssm-agent
Size:               6384 kB
Rss:                5608 kB
Private_Dirty:      1200 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00a3c000-010af000 r--p 0063c000 fe:00 1001                       /opt/agent/ssm-agent
Size:               6604 kB
Rss:                4748 kB
Anonymous:             0 kB
THPeligible:           0
010af000-010b0000 r--p 00caf000 fe:00 1001                       /opt/agent/ssm-agent
Rss:                   4 kB
Anonymous:             4 kB
010b0000-01116000 rw-p 00cb0000 fe:00 1001                       /opt/agent/ssm-agent
Rss:                 280 kB
Anonymous:           176 kB
c000000000-c000400000 rw-p 00000000 00:00 0 
Rss:                3336 kB
Anonymous:          3336 kB
7f00ef77f000-7f00ef8d5000 r-xp 00026000 fe:00 2002                       /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 900 kB
Anonymous:             0 kB
7f00ef900000-7f00ef901000 r--p 00000000 fe:00 1003                       /opt/agent/ssm-agent kB
Rss:                   4 kB
Anonymous:             0 kB
`

// TestReleasableSpans: only the executable's read-only mappings without a
// page of their own are released; not its data, not a mapping with a
// copied page, not the heap or a library, not another file whose name
// merely starts like it.
func TestReleasableSpans(t *testing.T) {
	got := releasableSpans(strings.NewReader(smapsSample), "/opt/agent/ssm-agent")
	want := []mappedSpan{
		{start: 0x400000, end: 0xa3c000, perms: "r-xp", path: "/opt/agent/ssm-agent", rss: 5608 << 10},
		{start: 0xa3c000, end: 0x10af000, perms: "r--p", path: "/opt/agent/ssm-agent", rss: 4748 << 10},
	}
	if len(got) != len(want) {
		t.Fatalf("releasableSpans = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("span %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	deleted := strings.ReplaceAll(smapsSample, "/opt/agent/ssm-agent\n", "/opt/agent/ssm-agent (deleted)\n")
	if got := releasableSpans(strings.NewReader(deleted), "/opt/agent/ssm-agent (deleted)"); len(got) != 2 {
		t.Errorf("a binary replaced by an update: %d spans, want 2", len(got))
	}
	if got := releasableSpans(strings.NewReader("garbage\n\x00\n-\nRss: x kB\n"), "/opt/agent/ssm-agent"); len(got) != 0 {
		t.Errorf("garbage: %+v", got)
	}
}

// TestReleaseStartupPages releases this test binary's start-up pages: its
// mapped text shrinks, and it goes on running the code it unmapped.
func TestReleaseStartupPages(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	mapped := func() (total int) {
		f, err := os.Open("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, s := range releasableSpans(f, exe) {
			total += s.rss
		}
		return total
	}
	before := mapped()
	released := releaseStartupPages()
	after := mapped()
	if released <= 0 || after >= before {
		t.Fatalf("released %d bytes: mapped %d bytes before, %d after", released, before, after)
	}
	// Code and read-only data of the unmapped pages still work.
	if got := releasableSpans(strings.NewReader(smapsSample), "/opt/agent/ssm-agent"); len(got) != 2 {
		t.Fatalf("after the release: %d spans", len(got))
	}
	t.Logf("mapped %d KiB of the test binary before, %d KiB after", before>>10, after>>10)
}

// TestAfterEachGC: f runs after a collection, again after the next, and no
// more once it returns false.
func TestAfterEachGC(t *testing.T) {
	calls := make(chan int, 4)
	n := 0
	afterEachGC(0, func() bool {
		n++
		calls <- n
		return n < 2
	})
	for want := 1; want <= 2; want++ {
		deadline := time.After(10 * time.Second)
	wait:
		for {
			runtime.GC()
			select {
			case got := <-calls:
				if got != want {
					t.Fatalf("call %d, want %d", got, want)
				}
				break wait
			case <-deadline:
				t.Fatalf("f not called after a collection (call %d)", want)
			case <-time.After(10 * time.Millisecond): // collect again: the cleanup runs after a sweep
			}
		}
	}
	for range 3 {
		runtime.GC()
	}
	select {
	case got := <-calls:
		t.Fatalf("f called again (%d) after it returned false", got)
	default:
	}
}
