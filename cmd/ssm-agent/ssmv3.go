package main

import (
	"path/filepath"

	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// Workers with protocol ssm-v3 speak SSM Agent v3's own IPC: an unmodified
// ssm-agent-worker, or this binary's worker with --protocol ssm-v3. The
// core listens on their health and termination sockets and probes them with
// health surveys; and it writes the identity file the v3 worker reads.

// v3Sockets returns the sockets of an ssm-v3 worker.
func (c *core) v3Sockets(w WorkerConfig) (health, term string) {
	health, term = w.HealthSocket, w.TerminationSocket
	if health == "" {
		health = filepath.Join(ipcDir(c.g.dataDir), "health")
	}
	if term == "" {
		term = filepath.Join(ipcDir(c.g.dataDir), "termination")
	}
	return health, term
}

// v3Core returns the listening end of a pair of v3 sockets, shared by the
// workers that use them, and writes the identity file once (see
// identity_file.go): an identity that cannot be selected is an error.
func (c *core) v3Core(health, term string) (*ssmv3.Core, error) {
	key := [2]string{health, term}
	if v3, ok := c.v3cores[key]; ok {
		return v3, nil
	}
	if c.v3cores == nil {
		// The worker is not started with an identity it would reject.
		if err := c.writeIdentity(); err != nil {
			return nil, err
		}
		c.v3cores = map[[2]string]*ssmv3.Core{}
	}
	v3, err := ssmv3.ListenCore(ssmv3.CoreConfig{HealthSocket: health, TerminationSocket: term})
	if err != nil {
		return nil, err
	}
	c.v3cores[key] = v3
	return v3, nil
}

// closeV3 closes the v3 sockets.
func (c *core) closeV3() {
	for _, v3 := range c.v3cores {
		v3.Close()
	}
}
