package peercred

import (
	"net"
	"os"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/procid"
)

// Of returns the process id and user id of the peer of c, from
// the kernel (SO_PEERCRED), so a peer cannot lie about them.
func Of(c *net.UnixConn) (pid, uid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return 0, 0, err
	}
	return int(cred.Pid), int(cred.Uid), nil
}

// IsChild reports whether process pid is a child of this process.
func IsChild(pid int) bool {
	st, err := procid.ReadStat(pid)
	return err == nil && st.PPID == os.Getpid()
}
