//go:build unix

package dirtrust

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Check reports whether dir may be trusted by this process: dir and every
// directory above it must be a directory owned by this process's user or
// by root and not writable by group or others. A root-owned directory with
// the sticky bit (such as /tmp) ends the walk upwards: others may create
// entries in it but not replace this process's. Symbolic links on the way
// must be owned by root or this user; the directories they lead to are
// checked in turn. dir must exist.
func Check(dir string) error {
	return check(dir, os.Geteuid(), false)
}

// CheckCreate reports whether dir, which need not exist, could be made
// and trusted: the nearest directory that exists is checked as the parent
// it would be (a root-owned sticky one such as /tmp will do).
func CheckCreate(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		if _, err := os.Lstat(abs); err == nil {
			break
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			break
		}
		abs = parent
	}
	return check(abs, os.Geteuid(), abs != filepath.Clean(dir))
}

// resolve returns the real path of path, once checkLinks has found every
// link on the way trusted.
func resolve(path string, uid int) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := checkLinks(abs, uid); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func check(dir string, uid int, parentOnly bool) error {
	real, err := resolve(dir, uid)
	if err != nil {
		return err
	}
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", d)
		}
		owner := int(st.Uid)
		switch {
		case !fi.IsDir():
			return &Error{Path: d, Why: "is not a directory", Fix: "remove it, or choose another directory"}
		case owner != uid && owner != 0:
			return &Error{Path: d, Why: fmt.Sprintf("is owned by uid %d, not by root or this agent's user (uid %d)", owner, uid),
				Fix: fmt.Sprintf("chown %d %s, or choose a directory of your own", uid, d)}
		case fi.Mode().Perm()&0o022 != 0:
			if owner == 0 && fi.Mode()&fs.ModeSticky != 0 && (d != real || parentOnly) {
				return nil // /tmp and the like
			}
			return &Error{Path: d, Why: fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm()),
				Fix: "chmod go-w " + d}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// checkLinks checks the owners of the symbolic links on abs's way.
func checkLinks(abs string, uid int) error {
	p := string(filepath.Separator)
	for _, part := range strings.Split(strings.TrimPrefix(abs, p), string(filepath.Separator)) {
		if part == "" {
			continue
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid && st.Uid != 0 {
			return &Error{Path: p, Why: fmt.Sprintf("is a symbolic link owned by uid %d, not by root or this agent's user (uid %d)", st.Uid, uid),
				Fix: "replace it with a directory, or point the agent at the link's target"}
		}
	}
	return nil
}

// MkdirAll creates dir and the missing directories above it with mode perm
// (whatever the umask), then checks the result as Check does. A directory
// that exists keeps its mode; a directory it creates is never wider than
// perm.
func MkdirAll(dir string, perm fs.FileMode) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var missing []string
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, perm); err != nil && !os.IsExist(err) {
			return err
		}
		if err := chmodDir(d, perm); err != nil {
			return err
		}
	}
	return Check(abs)
}

// chmodDir sets the mode of the directory it opens at d, not following a
// symbolic link put there meanwhile.
func chmodDir(d string, perm fs.FileMode) error {
	f, err := os.OpenFile(d, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	defer f.Close()
	return f.Chmod(perm)
}

// CheckFile reports whether the file at path — a program to run, say — may
// be trusted: once its links are resolved, a regular file owned by this
// process's user or by root and not writable by group or others, in a
// directory that Check trusts.
func CheckFile(path string) error {
	uid := os.Geteuid()
	real, err := resolve(path, uid)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return &Error{Path: real, Why: "is not a regular file", Fix: "point the agent at the program itself"}
	case !ok:
		return fmt.Errorf("%s: no owner information", real)
	case int(st.Uid) != uid && st.Uid != 0:
		return &Error{Path: real, Why: fmt.Sprintf("is owned by uid %d, not by root or this agent's user (uid %d)", st.Uid, uid),
			Fix: fmt.Sprintf("chown %d %s", uid, real)}
	case fi.Mode().Perm()&0o022 != 0:
		return &Error{Path: real, Why: fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm()), Fix: "chmod go-w " + real}
	}
	// The file's directory is a parent: a root-owned sticky one such as
	// /tmp keeps others from replacing a file they do not own.
	return check(filepath.Dir(real), uid, true)
}
