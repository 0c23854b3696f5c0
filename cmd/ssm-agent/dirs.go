package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ssmkit/ssmkit/internal/dirtrust"
)

// prepareDirs creates the core's directories with explicit modes and
// checks that they, their parents and the state directories in them can be
// trusted — owned by root or the agent's user, writable by nobody else — as
// sshd's StrictModes does: in a directory another user controls, state
// files could be planted and paths redirected under a root core's feet.
func prepareDirs(g *globals, cfg Config) error { return checkDirs(g, cfg, true) }

// checkDirs is prepareDirs; without create it only checks — the nearest
// existing parent of a directory that is not there yet — as `ssm-agent
// config` does, so that its exit status 0 means the core starts.
func checkDirs(g *globals, cfg Config, create bool) error {
	mkdir := func(path string, perm fs.FileMode) error {
		if create {
			return dirtrust.MkdirAll(path, perm)
		}
		return dirtrust.CheckCreate(path)
	}
	for _, d := range []struct {
		role, path string
		perm       fs.FileMode
	}{
		{"data dir", g.dataDir, 0o700},
		{"log dir", g.logDir, 0o755},
	} {
		if err := mkdir(d.path, d.perm); err != nil {
			return dirError(d.role, d.path, err)
		}
	}
	if fi, err := os.Lstat(ipcDir(g.dataDir)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return dirError("ipc dir", ipcDir(g.dataDir), errors.New("is a symbolic link, not the directory the agent makes there: remove it"))
	}
	if err := mkdir(ipcDir(g.dataDir), 0o700); err != nil {
		return dirError("ipc dir", ipcDir(g.dataDir), err)
	}
	c := &core{g: g, cfg: cfg}
	if err := checkExisting(c); err != nil {
		return err
	}
	// The programs the core runs as root, and the directories they are in.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c.self = self
	for _, w := range cfg.Workers {
		path := w.Path
		if path == "" {
			path = c.workerExecutable()
		}
		if err := dirtrust.CheckFile(path); err != nil {
			return fmt.Errorf("Workers: %s: program %s: %w", w.Name, path, err)
		}
	}
	return nil
}

// checkExisting checks the directories the packages make later, those
// that exist.
func checkExisting(c *core) error {
	g, cfg := c.g, c.cfg
	// Directories the packages make later are checked if they exist.
	existing := []struct{ role, path string }{
		{"install dir", g.installDir},
		{"ipc dir", ipcDir(g.dataDir)},
		{"supervisor state dir", supervisorState(g.dataDir)},
		{"telemetry dir", filepath.Join(g.dataDir, "telemetry")},
		{"telemetry segments dir", filepath.Join(g.dataDir, "telemetry", "segments")},
		{"telemetry checkpoints dir", filepath.Join(g.dataDir, "telemetry", "checkpoints")},
		{"update state dir", filepath.Join(g.dataDir, "update")},
		{"update downloads dir", filepath.Join(g.dataDir, "update", "downloads")},
		{"install versions dir", filepath.Join(g.installDir, "versions")},
		{"runtime config dir", filepath.Join(g.dataDir, "runtimeconfig")},
		{"audit dir", filepath.Join(g.logDir, "audits")},
	}
	versions, _ := filepath.Glob(filepath.Join(g.installDir, "versions", "*"))
	for _, v := range versions {
		existing = append(existing, struct{ role, path string }{"installed version", v})
	}
	for _, w := range cfg.Workers {
		if w.Protocol == "ssm-v3" {
			health, term := c.v3Sockets(w)
			existing = append(existing, struct{ role, path string }{"socket dir of " + w.Name, filepath.Dir(health)},
				struct{ role, path string }{"socket dir of " + w.Name, filepath.Dir(term)})
		}
	}
	for i, d := range existing {
		fi, err := os.Lstat(d.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// The directories in the data and log dirs are the agent's own: a
		// link there is not one it made.
		if i > 0 && err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return dirError(d.role, d.path, errors.New("is a symbolic link, not the directory the agent makes there: remove it"))
		}
		if err := dirtrust.Check(d.path); err != nil {
			return dirError(d.role, d.path, err)
		}
	}
	return nil
}

func dirError(role, path string, err error) error {
	return fmt.Errorf("%s %s: %w", role, path, err)
}
