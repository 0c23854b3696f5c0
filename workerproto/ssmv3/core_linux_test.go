//go:build linux

package ssmv3

import (
	"context"
	"errors"
	"os"
	"testing"
)

// TestCoreDropsLyingPid: on Linux the kernel says which process sent a
// reply (SO_PEERCRED); a reply whose payload names another pid is dropped.
func TestCoreDropsLyingPid(t *testing.T) {
	c := listenCore(t, testTimeout)
	self := os.Getpid()
	honest := respondent(t, c.health)
	liars := []struct {
		r   *rawPeer
		pid int
	}{
		{respondent(t, c.health), self + 1},
		{respondent(t, c.health), 1},
	}
	for _, pid := range c.Respondents() {
		if pid != self {
			t.Fatalf("Respondents = %v, want this process's pid %d for each", c.Respondents(), self)
		}
	}

	res := make(chan map[int]Health, 1)
	go func() {
		m, err := c.Health(context.Background())
		if err != nil {
			t.Error(err)
		}
		res <- m
	}()
	id, _ := honest.recvSurvey()
	honest.reply(id, healthBody(self))
	for _, l := range liars {
		id, _ := l.r.recvSurvey()
		l.r.reply(id, healthBody(l.pid))
	}
	m := await(t, res)
	if _, ok := m[self]; !ok || len(m) != 1 {
		t.Errorf("Health = %v, want only pid %d's answer", m, self)
	}

	// Alone, a liar is no answer at all.
	probe := make(chan error, 1)
	go func() { probe <- c.Probe(context.Background(), self+1) }()
	for _, r := range []*rawPeer{honest, liars[0].r, liars[1].r} {
		id, _ := r.recvSurvey()
		r.reply(id, healthBody(self+1))
	}
	if err := await(t, probe); err == nil {
		t.Errorf("Probe(%d) passed on a reply sent by pid %d", self+1, self)
	}
}

// TestCoreTerminateByPid: Terminate reaches only the respondents the
// kernel says are the pid asked for.
func TestCoreTerminateByPid(t *testing.T) {
	c := listenCore(t, testTimeout)
	r := respondent(t, c.term)
	ctx := testContext(t)
	if err := c.Terminate(ctx, os.Getpid()+1); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Terminate of another pid = %v, want ErrNotConnected", err)
	}
	if err := c.Terminate(ctx, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, body := r.recvSurvey(); string(body) != wantTerminateRequest {
		t.Fatalf("first frame %s", body)
	}
	// The frame after it is the marker: nothing was sent for the other pid.
	go c.term.Survey(ctx, []byte("marker"), nil)
	if _, body := r.recvSurvey(); string(body) != "marker" {
		t.Errorf("second frame %s, want the marker", body)
	}
}
