//go:build linux

package supervisor

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const floodSocketEnv = "FLOOD_SOCKET"

// helperFloodConns holds 1,000 connections to the socket from as many
// goroutines, each sending half a frame header and dialling again as soon
// as the core closes it, until stdin closes. It prints its pid once every
// goroutine has connected.
func helperFloodConns() int {
	stop := make(chan struct{})
	go func() { bufio.NewReader(os.Stdin).ReadByte(); close(stop) }()
	var connected sync.WaitGroup
	connected.Add(1000)
	for range 1000 {
		go func() {
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("unix", os.Getenv(floodSocketEnv))
				if err != nil {
					time.Sleep(time.Millisecond) // the backlog is full: again
					continue
				}
				if first {
					first = false
					connected.Done()
				}
				nc.Write([]byte{0, 0})
				nc.Read(make([]byte, 1))
				nc.Close()
			}
		}()
	}
	connected.Wait()
	fmt.Println(os.Getpid())
	<-stop
	return 0
}

// TestRestartedWorkerGetsInUnderFlood: while another process of the same
// user holds 1,000 connections to the core's socket and redials each the
// moment it is closed, a worker killed and restarted by the supervisor
// connects within a second, every time.
func TestRestartedWorkerGetsInUnderFlood(t *testing.T) {
	_, socket := stateDirSocket(t)
	spec := workerprotoSpec("w")
	spec.HealthInterval = time.Second
	sv := serve(t, Config{Socket: socket}, spec)
	from := 0
	first := sv.rec.waitFor(t, &from, EventConnected, nil)

	// The flood runs in a session of its own, not as our child.
	launch := exec.Command("setsid", "-f", os.Args[0], "-test.run=^$")
	launch.Env = append(os.Environ(), helperEnv+"=flood-conns", floodSocketEnv+"="+socket)
	stdin, _ := launch.StdinPipe()
	stdout, _ := launch.StdoutPipe()
	if err := launch.Start(); err != nil {
		t.Skip("no setsid program:", err)
	}
	t.Cleanup(func() { stdin.Close(); launch.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	floodPID, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("flood: %q %v", line, err)
	}
	t.Cleanup(func() {
		// Orphaned by setsid -f, the flood may have been given to this
		// process, a subreaper while Serve runs: reap it if so.
		syscall.Kill(floodPID, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(floodPID, &ws, 0, nil)
	})
	pid := first.PID
	var worst time.Duration
	for i := range 3 {
		t0 := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		e := sv.rec.waitFor(t, &from, EventConnected, func(e Event) bool { return e.PID != pid })
		d := e.Time.Sub(t0)
		worst = max(worst, d)
		t.Logf("restart %d: killed to connected in %v under the flood", i, d)
		pid = e.PID
	}
	if worst > time.Second {
		t.Errorf("a restarted worker took %v to connect under the flood; want within 1 s", worst)
	}
}
