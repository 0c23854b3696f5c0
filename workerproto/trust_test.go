//go:build linux

package workerproto

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	impostorPIDEnv = "IMPOSTOR_PID" // the pid the impostor claims in its hello; empty: its own
	floodConnsEnv  = "FLOOD_CONNS"
)

// platformHelper runs the helper processes of this file.
func platformHelper(mode string) (int, bool) {
	switch mode {
	case "impostor":
		return helperImpostor(), true
	case "flood":
		return helperFlood(), true
	case "flood-launch":
		return helperFloodLaunch(), true
	}
	return 0, false
}

// helperImpostor holds a worker's secret (as read from its environment)
// and tries to pass for it: a hello, and three events sent right behind it
// without waiting for the welcome. It prints the type of the core's answer.
func helperImpostor() int {
	nc, err := net.Dial("unix", os.Getenv(EnvSocket))
	if err != nil {
		fmt.Println("dial:", err)
		return 2
	}
	defer nc.Close()
	pid := os.Getpid()
	if v := os.Getenv(impostorPIDEnv); v != "" {
		pid, _ = strconv.Atoi(v)
	}
	frames := []*message{{Type: typeHello, Name: "helper", Version: "1.0", PID: pid, Protocols: supportedVersions, Secret: os.Getenv(EnvSecret)}}
	for i := range 3 {
		frames = append(frames, &message{Type: typeEvent, ID: uint64(i + 1), Event: &Event{Type: "agent_telemetry", Name: "forged"}})
	}
	var out []byte
	for _, m := range frames {
		b, _ := json.Marshal(m)
		out = appendFrame(out, b)
	}
	nc.Write(out)
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	payload, err := newFrameReader(nc, DefaultMaxFrameSize).next()
	if err != nil {
		fmt.Println("read:", err)
		return 0
	}
	var reply message
	json.Unmarshal(payload, &reply)
	fmt.Println(reply.Type)
	return 0
}

// TestImpostorRefused: a process that holds the secret of a running
// worker, but is not it, is refused before the welcome, whether it gives
// its own pid or the worker's, and none of its events is delivered.
func TestImpostorRefused(t *testing.T) {
	var mu sync.Mutex
	events := map[int]int{} // by peer pid
	gotEvent := make(chan struct{}, 10)
	l, rj := listen(t, ListenConfig{OnEvent: func(c *Conn, e Event) error {
		mu.Lock()
		events[c.Peer().PID]++
		mu.Unlock()
		gotEvent <- struct{}{}
		return nil
	}})
	secret, _ := NewSecret()
	if err := l.Authorize("w", secret, 0); err != nil {
		t.Fatal(err)
	}
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(append(os.Environ(), helperEnv+"=1"), Env(l.Path(), secret)...)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker.Process.Kill(); worker.Wait() })
	if err := l.SetPID("w", worker.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Peer().PID != worker.Process.Pid {
		t.Fatalf("accepted pid %d, want the worker %d", c.Peer().PID, worker.Process.Pid)
	}
	<-gotEvent // the worker's own event

	for _, claim := range []string{"", strconv.Itoa(worker.Process.Pid)} {
		imp := exec.Command(os.Args[0], "-test.run=^$")
		imp.Env = append(append(os.Environ(), helperEnv+"=impostor", impostorPIDEnv+"="+claim), Env(l.Path(), secret)...)
		out, err := imp.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != typeRefused {
			t.Errorf("impostor claiming pid %q was answered %q, want %q", claim, got, typeRefused)
		}
		t.Logf("impostor claiming pid %q: %v", claim, rj.next(t))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[worker.Process.Pid] != 1 {
		t.Errorf("events by pid %v, want one from the worker %d only", events, worker.Process.Pid)
	}
}

// helperFloodLaunch starts the flood in a session of its own and exits,
// so that the flood is not a child of the core under test.
func helperFloodLaunch() int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=flood")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 2
	}
	return 0
}

// helperFlood opens connections to the socket from many goroutines, each
// holding its connection until the core closes it and then dialling again,
// until stdin closes. It prints "flooding" once every goroutine has
// connected once.
func helperFlood() int {
	n, _ := strconv.Atoi(os.Getenv(floodConnsEnv))
	stop := make(chan struct{})
	go func() { bufio.NewReader(os.Stdin).ReadByte(); close(stop) }()
	var connected sync.WaitGroup
	connected.Add(n)
	for range n {
		go func() {
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("unix", os.Getenv(EnvSocket))
				if err != nil {
					time.Sleep(time.Millisecond) // the backlog is full: try again
					continue
				}
				if first {
					first = false
					connected.Done()
				}
				nc.Write([]byte{0, 0}) // half a frame header, then silence
				buf := make([]byte, 1)
				nc.Read(buf) // until the core closes it
				nc.Close()
			}
		}()
	}
	connected.Wait()
	fmt.Println("flooding", os.Getpid())
	<-stop
	return 0
}

// TestWorkerGetsInUnderFlood: while 1,000 connections from another process
// of the same user hammer the socket, a worker that the core (re)starts
// connects within a second.
func TestWorkerGetsInUnderFlood(t *testing.T) {
	var refused atomic.Int64
	l, _ := listen(t, ListenConfig{OnReject: func(error) { refused.Add(1) }})
	flood := exec.Command(os.Args[0], "-test.run=^$")
	flood.Env = append(append(os.Environ(), helperEnv+"=flood-launch", floodConnsEnv+"=1000"), EnvSocket+"="+l.Path())
	stdin, _ := flood.StdinPipe()
	stdout, _ := flood.StdoutPipe()
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); flood.Wait() })
	ctx := testContext(t)
	// The accept loop runs while the flood starts.
	accepted := make(chan *Conn)
	go func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	floodPID, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "flooding "))
	if err != nil || floodPID == 0 {
		t.Fatalf("flood: %q %v", line, err)
	}
	t.Cleanup(func() { syscall.Kill(floodPID, syscall.SIGKILL) })
	var worst time.Duration
	for i := range 3 { // a start, then two restarts
		secret, _ := NewSecret()
		l.Authorize("w", secret, 0)
		t0 := time.Now()
		worker := exec.Command(os.Args[0], "-test.run=^$")
		worker.Env = append(append(os.Environ(), helperEnv+"=1"), Env(l.Path(), secret)...)
		if err := worker.Start(); err != nil {
			t.Fatal(err)
		}
		l.SetPID("w", worker.Process.Pid)
		select {
		case c := <-accepted:
			d := time.Since(t0)
			worst = max(worst, d)
			t.Logf("start %d: the worker connected after %v under the flood (%d flood connections refused so far)", i, d, refused.Load())
			c.Close()
		case <-time.After(testTimeout):
			t.Fatal("the worker never got in")
		}
		worker.Process.Kill()
		worker.Wait()
	}
	if worst > time.Second {
		t.Errorf("the worker took %v to connect under the flood; want within 1 s", worst)
	}
}

// TestHandshakeWaitsForPID: a hello that presents a secret whose pid is not
// known yet waits for SetPID, and is then welcomed only if it comes from
// that process.
func TestHandshakeWaitsForPID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pid     int
		welcome bool
	}{{"the process it was issued to", os.Getpid(), true}, {"another process", os.Getppid(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := listen(t, ListenConfig{})
			accepted := make(chan *Conn, 1)
			go func() {
				if c, err := l.Accept(testContext(t)); err == nil {
					accepted <- c
				}
			}()
			secret, _ := NewSecret()
			if err := l.Authorize("w", secret, 0); err != nil {
				t.Fatal(err)
			}
			p := dialRaw(t, l.Path())
			p.send(hello(secret))
			// Nothing comes back before the pid is known.
			p.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := p.fr.next(); err == nil {
				t.Fatal("an answer before the pid was known")
			}
			p.nc.SetReadDeadline(time.Now().Add(testTimeout))
			p.fr = newFrameReader(p.nc, 1<<30)
			if err := l.SetPID("w", tc.pid); err != nil {
				t.Fatal(err)
			}
			got := p.recv()["type"]
			if want := map[bool]string{true: typeWelcome, false: typeRefused}[tc.welcome]; got != want {
				t.Fatalf("answer %v, want %s", got, want)
			}
			if tc.welcome {
				c := <-accepted
				c.Close()
			}
		})
	}
}

func TestAuthorizePIDErrors(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	s, _ := NewSecret()
	for _, err := range []error{
		l.Authorize("w", s, -1),
		l.SetPID("nobody", 10),
		l.SetPID("w", 0),
	} {
		if err == nil {
			t.Error("no error")
		}
	}
	if err := l.Authorize("w", s, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPID("w", 10); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPID("w", 11); err == nil || !strings.Contains(err.Error(), "already pid 10") {
		t.Errorf("second SetPID: %v", err)
	}
	l.Revoke("w")
	if err := l.SetPID("w", 12); err == nil {
		t.Error("SetPID after Revoke succeeded")
	}
}
