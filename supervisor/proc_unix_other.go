//go:build unix && !linux

package supervisor

import "syscall"

func sysProcAttr(*Spec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
