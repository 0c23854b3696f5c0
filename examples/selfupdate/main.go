// Command selfupdate shows the selfupdate package on one machine: it serves
// a release manifest on 127.0.0.1, installs version 1.0.0, and runs two
// updates — to a healthy 2.0.0, committed, then to a 3.0.0 that crashes at
// start, rolled back. The "agent" is this program started again as a child.
//
//	go run ./examples/selfupdate
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// agentEnv marks the child that plays an installed agent version.
const agentEnv = "EXAMPLE_SELFUPDATE_AGENT"

func main() {
	log.SetFlags(0)
	if dir := os.Getenv(agentEnv); dir != "" {
		agent(dir)
		return
	}
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// agent plays a version: its behaviour file says "ok" (ready at once) or
// "crash" (exit at start).
func agent(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "behaviour"))
	if strings.TrimSpace(string(b)) == "crash" {
		os.Exit(1)
	}
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o644)
	select {}
}

// service restarts the agent from current and checks that it is ready.
type service struct {
	layout selfupdate.Layout
	out    io.Writer
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (s *service) Restart(ctx context.Context, v string) error {
	s.Stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), agentEnv+"="+s.layout.VersionDir(v))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	fmt.Fprintf(s.out, "  restarted into %s (pid %d)\n", v, cmd.Process.Pid)
	return nil
}

func (s *service) Check(ctx context.Context, v string) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	select {
	case <-exited:
		return fmt.Errorf("%s exited at start", v)
	default:
	}
	if _, err := os.Stat(filepath.Join(s.layout.VersionDir(v), fmt.Sprintf("ready-%d", cmd.Process.Pid))); err != nil {
		return fmt.Errorf("%s is not ready yet", v)
	}
	return nil
}

// Stop ends the agent.
func (s *service) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-exited
	}
}

// pkg builds a package of one version.
func pkg(behaviour string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "behaviour", Mode: 0o644, Size: int64(len(behaviour)), Typeflag: tar.TypeReg})
	tw.Write([]byte(behaviour))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func run(out io.Writer) error {
	dir, err := os.MkdirTemp("", "selfupdate-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The release repository: a manifest and its packages, on loopback.
	files := map[string][]byte{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
	}))
	defer srv.Close()
	publish := func(deprecated, active, behaviour string) {
		p := pkg(behaviour)
		sum := sha256.Sum256(p)
		mu.Lock()
		defer mu.Unlock()
		files["/amazon-ssm-agent/"+active+"/amazon-ssm-agent-linux-amd64.tar.gz"] = p
		files["/ssm-agent-manifest.json"] = []byte(fmt.Sprintf(`{"SchemaVersion":"1.0","UriFormat":%q,
			"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
			{"Version":%q,"CheckSum":"%064d","Status":"Deprecated"},{"Version":%q,"CheckSum":%q,"Status":"Active"}]}]}]}`,
			srv.URL+"/{PackageName}/{PackageVersion}/{FileName}", deprecated, 0, active, hex.EncodeToString(sum[:])))
	}

	// Version 1.0.0, installed and running.
	layout := selfupdate.Layout{Dir: filepath.Join(dir, "install")}
	first := filepath.Join(dir, "behaviour")
	os.WriteFile(first, []byte("ok"), 0o644)
	if err := layout.Install("1.0.0", map[string]string{"behaviour": first}); err != nil {
		return err
	}
	layout.Switch("1.0.0")
	svc := &service{layout: layout, out: out}
	defer svc.Stop()
	svc.Restart(context.Background(), "1.0.0")

	update := func(current, next, behaviour string) error {
		publish(current, next, behaviour)
		u, err := selfupdate.New(selfupdate.Config{
			ManifestURL: srv.URL + "/ssm-agent-manifest.json",
			Platform:    manifest.Platform{Name: "linux", Arch: "amd64"},
			Current:     manifest.MustParseVersion(current),
			InstallDir:  layout.Dir, StateDir: filepath.Join(dir, "update"),
			Restarter: svc, Health: svc, HealthTimeout: 3 * time.Second, HealthInterval: 50 * time.Millisecond,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s is deprecated; %s (%s) is active:\n", current, next, behaviour)
		r, err := u.Update(context.Background())
		cur, _ := layout.Current()
		fmt.Fprintf(out, "  result %s; current is %s\n", r.Code, cur)
		if err != nil {
			fmt.Fprintf(out, "  because: %v\n", errors.Unwrap(err))
		}
		return nil
	}
	if err := update("1.0.0", "2.0.0", "ok"); err != nil {
		return err
	}
	return update("2.0.0", "3.0.0", "crash")
}
