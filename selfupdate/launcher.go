package selfupdate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// A DetachedCommand is a Launcher that starts a command in a session of its
// own, with no controlling terminal and its output to DevNull unless Stdout
// and Stderr say otherwise, so that it survives the restart of the service
// that started it (systemd's KillMode=process leaves it alone; with
// KillMode=control-group run it with systemd-run instead). The command is
// expected to call Updater.RunGuardian — typically the agent's own old
// binary with a guardian subcommand.
type DetachedCommand struct {
	Path           string
	Args           []string
	Env            []string // added to the environment
	Stdout, Stderr *os.File
}

var _ Launcher = (*DetachedCommand)(nil)

// Launch starts the command and does not wait for it.
func (d *DetachedCommand) Launch(ctx context.Context) (int, error) {
	cmd := exec.Command(d.Path, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.Stdout, cmd.Stderr = d.Stdout, d.Stderr
	cmd.SysProcAttr = detachedAttr()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("selfupdate: start guardian %s: %w", d.Path, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it if it ends while this process lives
	return pid, nil
}
