package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// A notifier speaks systemd's notify protocol (sd_notify(3)): datagrams of
// newline-separated assignments to the socket in $NOTIFY_SOCKET. Without
// that variable (not under a Type=notify unit) it does nothing.
type notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // $WATCHDOG_USEC, when it is meant for this process
}

func newNotifier() *notifier {
	n := &notifier{}
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return n
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	if usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	// Children (workers, the guardian) must not talk to systemd as the
	// service's main process.
	os.Unsetenv("NOTIFY_SOCKET")
	os.Unsetenv("WATCHDOG_USEC")
	os.Unsetenv("WATCHDOG_PID")
	return n
}

// send sends one state message; failures are not the service's concern.
func (n *notifier) send(state string) {
	if n.addr == nil {
		return
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

// keepAlive sends WATCHDOG=1 at half the watchdog interval until ctx ends;
// the returned channel is closed when it has stopped.
func (n *notifier) keepAlive(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if n.addr == nil || n.watchdog == 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(n.watchdog / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n.send("WATCHDOG=1")
			}
		}
	}()
	return done
}
