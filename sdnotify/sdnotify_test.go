//go:build unix

package sdnotify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/sdnotify"
)

// listen makes a notify socket and points the environment at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(b[:n])
}

func TestNotifyAndEnvironment(t *testing.T) {
	c := listen(t)
	t.Setenv("WATCHDOG_USEC", "3000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n := sdnotify.FromEnv()
	if !n.Enabled() || n.WatchdogInterval() != 3*time.Second {
		t.Fatalf("Enabled %v, watchdog %v", n.Enabled(), n.WatchdogInterval())
	}
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Errorf("%s is still in the environment, for children to inherit", k)
		}
	}
	if len(n.Environ()) != 3 {
		t.Errorf("Environ = %q, want the three variables back", n.Environ())
	}
	if err := n.Notify(sdnotify.Ready + "\nSTATUS=up"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "READY=1\nSTATUS=up" {
		t.Errorf("got %q", got)
	}
}

func TestWatchdogForAnotherPidIsIgnored(t *testing.T) {
	listen(t)
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	if d := sdnotify.FromEnv().WatchdogInterval(); d != 0 {
		t.Errorf("watchdog %v for pid 1's interval", d)
	}
}

func TestServeSendsWatchdog(t *testing.T) {
	c := listen(t)
	t.Setenv("WATCHDOG_USEC", "20000")
	n := sdnotify.FromEnv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	for range 2 {
		if got := read(t, c); got != sdnotify.Watchdog {
			t.Errorf("got %q, want %q", got, sdnotify.Watchdog)
		}
	}
	if err := n.Serve(ctx); !errors.Is(err, sdnotify.ErrServing) {
		t.Errorf("a second Serve = %v, want ErrServing", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := sdnotify.FromEnv()
	if n.Enabled() || n.Notify(sdnotify.Ready) != nil {
		t.Error("a Notifier with no socket does something")
	}
	var zero *sdnotify.Notifier
	if zero.Enabled() || zero.Notify(sdnotify.Stopping) != nil || zero.WatchdogInterval() != 0 {
		t.Error("the nil Notifier does something")
	}
}

func Example() {
	// Outside a Type=notify unit, as here, every call does nothing.
	os.Unsetenv("NOTIFY_SOCKET")
	n := sdnotify.FromEnv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	fmt.Println(n.Notify(sdnotify.Ready+"\nSTATUS=serving"), n.Enabled())
	cancel()
	fmt.Println(<-done)
	// Output:
	// <nil> false
	// <nil>
}
