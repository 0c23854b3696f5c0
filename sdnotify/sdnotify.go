// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for a Type=notify service: it tells systemd that the
// service is ready, stopping, or alive (the watchdog), in datagrams of
// newline-separated assignments sent to the socket named by $NOTIFY_SOCKET.
// Outside such a unit $NOTIFY_SOCKET is unset and every call does nothing,
// so a program calls it unconditionally:
//
//	n := sdnotify.FromEnv()
//	n.Notify(sdnotify.Ready)
//	go n.Serve(ctx) // WATCHDOG=1 at half of WatchdogSec, if the unit sets one
//	…
//	n.Notify(sdnotify.Stopping)
//
// FromEnv removes the protocol's variables from the environment, so that
// children — workers, helpers — do not speak to systemd as the service's
// main process; Environ gives them back, for a process that execs itself
// into a new version.
package sdnotify

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// States the protocol defines that a service sends.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
	Watchdog  = "WATCHDOG=1"
)

// ErrServing is returned by a second call of Serve.
var ErrServing = errors.New("sdnotify: Serve is already running")

// A Notifier sends notifications to the service manager. The zero value,
// and a Notifier from FromEnv outside a Type=notify unit, sends nothing.
// It is safe for concurrent use.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
	env      []string // the variables FromEnv removed, as KEY=value
	serving  atomic.Bool
}

// Variables of the protocol.
var variables = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}

// FromEnv returns a Notifier for the socket in $NOTIFY_SOCKET (an abstract
// socket when it starts with '@'), with the watchdog interval of
// $WATCHDOG_USEC when $WATCHDOG_PID is unset or this process's pid, and
// removes those variables from the environment.
func FromEnv() *Notifier {
	n := &Notifier{}
	for _, k := range variables {
		if v, ok := os.LookupEnv(k); ok {
			n.env = append(n.env, k+"="+v)
		}
	}
	defer func() {
		for _, k := range variables {
			os.Unsetenv(k)
		}
	}()
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return n
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	if usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 && usec <= int64(time.Duration(1<<62)/time.Microsecond) {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is the unit's WatchdogSec, or 0 when it has none.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Environ returns the variables FromEnv removed, as KEY=value, to put back
// into the environment of an exec of this process (not of a child).
func (n *Notifier) Environ() []string {
	if n == nil {
		return nil
	}
	return append([]string(nil), n.env...)
}

// Notify sends one message: one or more states such as Ready, or
// "STATUS=…", separated by newlines. It does nothing when not Enabled.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// Serve sends Watchdog at half the watchdog interval until ctx ends, then
// returns nil; without a watchdog it just waits for ctx. A second call
// while one runs returns ErrServing.
func (n *Notifier) Serve(ctx context.Context) error {
	if !n.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	defer n.serving.Store(false)
	if !n.Enabled() || n.watchdog == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.Notify(Watchdog) // a lost datagram is the watchdog's to notice
		}
	}
}
