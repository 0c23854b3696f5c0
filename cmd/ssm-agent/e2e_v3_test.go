//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// The v3 worker's side of the identity: a worker that does what AWS's
// ssm-agent-worker does with the identity file its core wrote (facts sheet
// §9), and the binary run under the names of SSM's two files.

// Environment of the identity-checking worker (the test binary re-executed).
const (
	v3WorkerEnv       = "SSM_AGENT_TEST_V3_IDENTITY_WORKER" // its configuration file
	v3WorkerDataEnv   = "SSM_AGENT_TEST_V3_IDENTITY_DATA"   // its data directory
	mountHelperEnv    = "SSM_AGENT_TEST_MOUNT_EXEC"         // the program to exec
	mountHelperBindEv = "SSM_AGENT_TEST_MOUNT_BINDS"        // src:dst,src:dst
)

// TestV3IdentityWorkerHelper is not a test: re-executed with v3WorkerEnv
// set, the test binary is a v3 worker that applies the v3 worker's rule to
// the identity file, and stops as the real one does when it finds none.
func TestV3IdentityWorkerHelper(t *testing.T) {
	configPath := os.Getenv(v3WorkerEnv)
	if configPath == "" {
		return
	}
	data := os.Getenv(v3WorkerDataEnv)
	if typ, id, err := findAgentIdentity(configPath, data); err != nil {
		fmt.Fprintf(os.Stderr, "failed to find agent identity: %v\n", err)
		os.Exit(0) // as the real worker: exit 0, after logging it
	} else {
		fmt.Fprintf(os.Stderr, "identity %s %s accepted\n", typ, id)
	}
	w := &ssmv3.Worker{HealthSocket: filepath.Join(data, "ipc", "health"), TerminationSocket: filepath.Join(data, "ipc", "termination")}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	w.Serve(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil })
	os.Exit(0)
}

// findAgentIdentity is the v3 worker's rule: walk the worker's own
// Identity.ConsumptionOrder and accept the first identity whose type is the
// file's IdentityType and whose own instance id is the file's InstanceId.
func findAgentIdentity(configPath, dataDir string) (typ, id string, err error) {
	cfg, _, err := loadConfig(configPath)
	if err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(identityFile(dataDir))
	if err != nil {
		return "", "", err
	}
	var file runtimeIdentity
	if err := json.Unmarshal(b, &file); err != nil {
		return "", "", err
	}
	for _, t := range cfg.Identity.ConsumptionOrder {
		if t != file.IdentityType {
			continue
		}
		var own []string
		switch t {
		case identityCustom:
			for _, ci := range cfg.Identity.CustomIdentities {
				own = append(own, ci.InstanceID)
			}
		case identityEC2:
			if ec2, err := ownEC2InstanceID(); err == nil {
				own = append(own, ec2)
			}
		case identityECS:
			if ecs, err := ecsInstanceID(context.Background(), os.Getenv("ECS_CONTAINER_METADATA_URI")); err == nil {
				own = append(own, ecs)
			}
		}
		for _, o := range own {
			if o == file.InstanceId {
				return t, o, nil
			}
		}
	}
	return "", "", fmt.Errorf("no identity of %v is %s %s", cfg.Identity.ConsumptionOrder, file.IdentityType, file.InstanceId)
}

// ownEC2InstanceID asks the metadata service, as the worker's EC2 identity does.
func ownEC2InstanceID() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", err
	}
	out, err := imds.NewFromConfig(cfg).GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return "", err
	}
	return out.InstanceID, nil
}

// identityWorkerAgent is an agent whose ssm-v3 worker checks its identity
// file, with identity the configuration's Identity section.
func identityWorkerAgent(t *testing.T, identity string, workerEnv []string, env ...string) *agent {
	t.Helper()
	w := map[string]any{"Name": "ssm-agent-worker", "Protocol": "ssm-v3", "Path": os.Args[0],
		"Args": []string{"-test.run=^TestV3IdentityWorkerHelper$"}, "HealthIntervalSeconds": 1, "Env": workerEnv}
	wj, _ := json.Marshal(w)
	a := newAgent(t, agentBinary(t, "3.1.0.0"), fmt.Sprintf(`{"Identity": %s, "Workers": [%s]}`, identity, wj), env...)
	a.env = append(a.env, v3WorkerEnv+"="+a.config, v3WorkerDataEnv+"="+filepath.Join(a.dir, "data"))
	return a
}

func TestAgentV3IdentityCustom(t *testing.T) {
	t.Parallel()
	a := identityWorkerAgent(t, `{"ConsumptionOrder": ["CustomIdentity"], "customidentities": [{"instanceId": "i-0123456789abcdef0", "Region": "eu-west-1"}]}`, nil)
	a.start() // healthy: the worker accepted the file and answers surveys
	if b, err := os.ReadFile(identityFile(filepath.Join(a.dir, "data"))); err != nil || string(b) != wantCustomFile {
		t.Errorf("identity file %s, %v", b, err)
	}
	if log, _ := os.ReadFile(filepath.Join(a.dir, "log", "ssm-agent-worker.log")); !strings.Contains(string(log), "identity CustomIdentity i-0123456789abcdef0 accepted") {
		t.Errorf("worker log:\n%s", log)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestAgentV3IdentityEC2(t *testing.T) {
	t.Parallel()
	imdsEnv := []string{"AWS_EC2_METADATA_DISABLED=false", "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + fakeIMDS(t, "i-0feedfacefeedface").URL}
	a := identityWorkerAgent(t, `{"CustomIdentities": [{"InstanceID": "i-custom"}]}`, nil, imdsEnv...)
	a.start()
	b, _ := os.ReadFile(identityFile(filepath.Join(a.dir, "data")))
	if !strings.Contains(string(b), `"InstanceId":"i-0feedfacefeedface","IdentityType":"EC2"`) {
		t.Errorf("identity file on EC2: %s", b)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	// The same file, and a worker that cannot reach the metadata service:
	// it rejects the file as the real one does, and exits 0.
	a = identityWorkerAgent(t, `{"CustomIdentities": [{"InstanceID": "i-custom"}]}`, []string{"AWS_EC2_METADATA_DISABLED=true"}, imdsEnv...)
	a.startNoWait()
	a.waitFor("the worker rejecting an EC2 identity off EC2", 20*time.Second, func() (bool, string) {
		log, _ := os.ReadFile(filepath.Join(a.dir, "log", "ssm-agent-worker.log"))
		return strings.Contains(string(log), "failed to find agent identity"), string(log)
	})
}

func TestAgentV3IdentityRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		identity     string
		registration bool
		want         []string
	}{
		{`{"ConsumptionOrder": ["OnPrem"]}`, false, []string{"Identity: no identity of Identity.ConsumptionOrder [OnPrem]", "OnPrem registration is not supported by this build"}},
		{`{"CustomIdentities": [{"InstanceID": "i-custom"}]}`, true, []string{"Identity.ConsumptionOrder: OnPrem", "OnPrem registration is not supported by this build"}},
		{`{"ConsumptionOrder": ["EC2"]}`, false, []string{"Identity: no identity", "EC2: the metadata service did not answer"}},
	}
	for _, tt := range tests {
		a := identityWorkerAgent(t, tt.identity, nil)
		if tt.registration {
			reg := filepath.Join(a.dir, "data", "Vault", "Store", "RegistrationKey")
			os.MkdirAll(filepath.Dir(reg), 0o700)
			os.WriteFile(reg, []byte("{}"), 0o600)
		}
		cmd := exec.Command(a.bin, a.globals()...)
		cmd.Env = a.env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Errorf("%s: the core ran (%v):\n%s", tt.identity, err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.identity, w, out)
			}
		}
		if _, err := os.Stat(identityFile(filepath.Join(a.dir, "data"))); err == nil {
			t.Errorf("%s: an identity file was written", tt.identity)
		}
		if _, err := os.Stat(filepath.Join(a.dir, "log", "ssm-agent-worker.log")); err == nil {
			t.Errorf("%s: the worker was started", tt.identity)
		}
	}
}

// startNoWait starts the core without waiting for it to be healthy.
func (a *agent) startNoWait() {
	a.t.Helper()
	a.cmd = exec.Command(a.bin, a.globals()...)
	a.cmd.Env = a.env
	a.out = &lockedBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(a.cmd, a.done)
}

// copyAs copies the agent binary into dir under name.
func copyAs(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(agentBinary(t, "3.1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
