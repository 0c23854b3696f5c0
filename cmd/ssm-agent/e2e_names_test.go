//go:build linux

package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// The binary dropped into an SSM v3 installation under the names of SSM's
// files: ssm-agent-worker (started by SSM's core with no arguments) and
// amazon-ssm-agent.

// TestMountNamespaceHelper is not a test: re-executed with mountHelperEnv
// set, in a mount namespace of its own, the test binary bind-mounts test
// directories over system ones (as root: /var/lib and /var/log, so that
// the program sees SSM's paths and the host's stay untouched) and execs the
// program with no arguments.
func TestMountNamespaceHelper(t *testing.T) {
	exe := os.Getenv(mountHelperEnv)
	if exe == "" {
		return
	}
	fail := func(what string, err error) {
		os.Stderr.WriteString("mount helper: " + what + ": " + err.Error() + "\n")
		os.Exit(3)
	}
	if err := syscall.Mount("none", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fail("making / private", err)
	}
	for _, b := range strings.Split(os.Getenv(mountHelperBindEv), ",") {
		src, dst, _ := strings.Cut(b, ":")
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			fail("bind "+b, err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, mountHelperEnv+"=") || strings.HasPrefix(kv, mountHelperBindEv+"=")
	})
	fail("exec", syscall.Exec(exe, []string{exe}, env))
}

// startByName starts the program at path with no arguments, as SSM's core
// starts its worker; as root inside a mount namespace where dir/varlib is
// /var/lib and dir/varlog is /var/log. It returns the data directory the
// program uses, as the test sees it.
func startByName(t *testing.T, dir, path string, stderr *lockedBuffer) (*exec.Cmd, string) {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(dir, "home"), "XDG_STATE_HOME=" + filepath.Join(dir, "state"), "AWS_EC2_METADATA_DISABLED=true"}
	var cmd *exec.Cmd
	var data string
	if os.Geteuid() == 0 {
		for _, d := range []string{"varlib/amazon/ssm", "varlog"} {
			os.MkdirAll(filepath.Join(dir, d), 0o700)
		}
		data = filepath.Join(dir, "varlib", "amazon", "ssm")
		cmd = exec.Command(os.Args[0], "-test.run=^TestMountNamespaceHelper$")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		env = append(env, mountHelperEnv+"="+path,
			mountHelperBindEv+"="+filepath.Join(dir, "varlib")+":/var/lib,"+filepath.Join(dir, "varlog")+":/var/log")
	} else {
		data = filepath.Join(dir, "state", "ssm-agent", "data")
		cmd = exec.Command(path)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := os.MkdirAll(filepath.Join(data, "ipc"), 0o700); err != nil {
		t.Fatal(err)
	}
	return cmd, data
}

func TestBinaryAsSSMAgentWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	worker := copyAs(t, dir, "ssm-agent-worker")
	out := &lockedBuffer{}
	cmd, data := startByName(t, dir, worker, out)
	core, err := ssmv3.ListenCore(ssmv3.CoreConfig{HealthSocket: filepath.Join(data, "ipc", "health"), TerminationSocket: filepath.Join(data, "ipc", "termination")})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	before := tree(t, dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	pid := cmd.Process.Pid // the helper execs: the worker keeps its pid

	// It answers health surveys with its pid.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		h, err := core.Health(ctx)
		if err != nil {
			t.Fatalf("no health answer from pid %d: %v\n%s", pid, err, out)
		}
		if w, ok := h[pid]; ok {
			if w.Name != "ssm-agent-worker" || w.WorkerType != "LongRunning" {
				t.Errorf("health %+v", w)
			}
			break
		}
	}
	if !strings.Contains(out.String(), "ssm-v3 on "+filepath.Join(rootDataDirOr(data), "ipc", "health")) {
		t.Errorf("the worker does not use SSM's sockets:\n%s", out)
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe != worker {
		t.Errorf("pid %d runs %q, want %q", pid, exe, worker)
	}

	// It exits 0 on TerminateWorkerRequest.
	if err := core.Terminate(ctx, pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("the worker exited with %v after TerminateWorkerRequest\n%s", err, out)
		}
	case <-ctx.Done():
		t.Fatalf("the worker did not exit after TerminateWorkerRequest\n%s", out)
	}
	if !strings.Contains(out.String(), "TerminateWorkerRequest received") {
		t.Errorf("worker output:\n%s", out)
	}
	t.Logf("the worker, started as %s with no arguments:\n%s", worker, out)
	// It wrote nothing (its log is its standard error): no core started,
	// no directory made, in the data directory or anywhere under dir.
	if after := tree(t, dir); !slices.Equal(before, after) {
		t.Errorf("files before the worker ran:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// rootDataDirOr is the data directory as the worker sees it.
func rootDataDirOr(data string) string {
	if os.Geteuid() == 0 {
		return rootDataDir
	}
	return data
}

// tree lists the paths under dir.
func tree(t *testing.T, dir string) []string {
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			paths = append(paths, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return paths
}

func TestBinaryAsAmazonSSMAgent(t *testing.T) {
	t.Parallel()
	bin := copyAs(t, t.TempDir(), "amazon-ssm-agent")
	a := newAgent(t, bin, "")
	a.start() // it is a core: it answers status, and its worker is ready
	st := a.waitHealthy("", 10*time.Second)
	if st.Version != "3.1.0.0" || len(st.Workers) != 1 || st.Workers[0].Executable != bin {
		t.Errorf("status %+v", st)
	}
	if out, _, err := a.run("status"); err != nil || !strings.Contains(out, "ssm-agent-worker") {
		t.Errorf("amazon-ssm-agent status = %q, %v", out, err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
}
