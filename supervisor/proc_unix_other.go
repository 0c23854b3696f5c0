//go:build unix && !linux

package supervisor

import "syscall"

func sysProcAttr(*Spec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether a process (or zombie) of group pgid exists.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
