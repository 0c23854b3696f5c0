package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
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
// workers that use them, and writes the identity file once.
func (c *core) v3Core(health, term string) (*ssmv3.Core, error) {
	key := [2]string{health, term}
	if v3, ok := c.v3cores[key]; ok {
		return v3, nil
	}
	if c.v3cores == nil {
		c.v3cores = map[[2]string]*ssmv3.Core{}
		if err := c.writeIdentity(); err != nil {
			c.log.Warn("writing the ssm-v3 worker's identity file", "err", err)
		}
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

// identityConfig is the v3 worker's runtime identity file,
// <data dir>/runtimeconfig/identity_config.json.
type identityConfig struct {
	InstanceId             string
	IdentityType           string
	Region                 string
	ShareFile              string
	ShareProfile           string
	CredentialsExpiresAt   time.Time
	CredentialsRetrievedAt time.Time
}

// identityTimeout bounds the questions to the metadata service for it.
const identityTimeout = 5 * time.Second

// writeIdentity writes the identity file from Agent.Region and
// Telemetry.InstanceId, asking the metadata service for what they leave
// out.
func (c *core) writeIdentity() error {
	id := identityConfig{InstanceId: c.cfg.Telemetry.InstanceId, IdentityType: "EC2", Region: c.cfg.Agent.Region}
	if id.InstanceId == "" || id.Region == "" {
		ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
		defer cancel()
		cfg, err := c.awsConfig(ctx, "the ssm-v3 worker's identity")
		if err != nil {
			c.log.Warn("the ssm-v3 worker's identity lacks its region", "err", err)
		} else {
			id.Region = cfg.Region
			id.InstanceId = c.instanceID(ctx, cfg)
		}
	}
	b, _ := json.MarshalIndent(id, "", "  ")
	path := filepath.Join(c.g.dataDir, "runtimeconfig", "identity_config.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o640)
}
