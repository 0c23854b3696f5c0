package selfupdate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// A DetachedCommand is a Launcher that starts a command in a session of its
// own, with no controlling terminal and its output to DevNull unless Stdout
// and Stderr say otherwise, so that it survives the restart of the service
// that started it (systemd's KillMode=process leaves it alone; with
// KillMode=control-group run it with systemd-run instead). The command is
// expected to call Updater.RunGuardian — typically the agent's own old
// binary with a guardian subcommand.
type DetachedCommand struct {
	Path string
	Args []string
	Env  []string // added to the environment
	// Binary, when set, is the agent's file name in a version directory:
	// the command is then that file of the update's source version — the
	// one known to work, which an update keeps — when the layout has that
	// version complete, and Path otherwise.
	Binary string
	// LogPath, when set and Stdout and Stderr are not, is the file the
	// output is appended to, opened at each launch: created with mode
	// 0644, and never through a symbolic link, nor at a FIFO or a file of
	// more than one link.
	LogPath        string
	Stdout, Stderr *os.File
}

var _ Launcher = (*DetachedCommand)(nil)

// Launch starts the command and does not wait for it.
func (d *DetachedCommand) Launch(ctx context.Context, sourceDir string) (int, error) {
	path := d.Path
	if d.Binary != "" && sourceDir != "" {
		path = filepath.Join(sourceDir, d.Binary)
	}
	cmd := exec.Command(path, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.Stdout, cmd.Stderr = d.Stdout, d.Stderr
	if d.LogPath != "" && d.Stdout == nil && d.Stderr == nil {
		log, err := atomicfile.OpenFile(d.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return 0, fmt.Errorf("selfupdate: guardian log: %w", err)
		}
		defer log.Close() // the command has its own copy
		cmd.Stdout, cmd.Stderr = log, log
	}
	cmd.SysProcAttr = detachedAttr()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("selfupdate: start guardian %s: %w", path, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it if it ends while this process lives
	return pid, nil
}
