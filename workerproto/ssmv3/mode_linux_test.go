package ssmv3

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSocketModesUnderUmask000: under umask 000 the socket directory is
// 0700 and the socket 0600; an existing directory open to others is
// narrowed.
func TestSocketModesUnderUmask000(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := socketDir(t)
	h, term := filepath.Join(dir, "ipc", "health"), filepath.Join(dir, "ipc", "termination")
	c, err := ListenCore(CoreConfig{HealthSocket: h, TerminationSocket: term})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for path, want := range map[string]os.FileMode{filepath.Dir(h): 0o700, h: 0o600, term: 0o600} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", path, fi.Mode().Perm(), want)
		}
	}

	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	s, err := Listen(filepath.Join(open, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing directory left at %#o, want 0700", fi.Mode().Perm())
	}
}

// TestSocketDirectoryRefusals: a symlink or another user's directory is
// not taken for the socket's.
func TestSocketDirectoryRefusals(t *testing.T) {
	dir := socketDir(t)
	os.Mkdir(filepath.Join(dir, "real"), 0o700)
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link"))
	if s, err := Listen(filepath.Join(dir, "link", "s")); err == nil {
		s.Close()
		t.Error("listened in a directory reached through a symlink")
	}
	if os.Getuid() == 0 {
		other := filepath.Join(dir, "other")
		os.Mkdir(other, 0o700)
		os.Chown(other, 65534, 65534)
		if s, err := Listen(filepath.Join(other, "s")); err == nil {
			s.Close()
			t.Error("listened in another user's directory")
		}
	}
}

// TestRespondentOfAnotherUserRefused: even where the socket's modes let
// another user in, the surveyor closes that user's connection before the
// connection header.
func TestRespondentOfAnotherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	dir := socketDir(t)
	s, err := Listen(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A hostile widening of the modes, and a copy of the test binary that
	// the other user may run.
	os.Chmod(dir, 0o755)
	os.Chmod(s.Path(), 0o666)
	bin := filepath.Join(dir, "helper")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=silent", helperHealthEnv+"="+s.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "connection header") {
		t.Fatalf("the other user's respondent exited %d (%v): %s; want 2, refused at the header", code, err, out)
	}
	t.Logf("the other user's respondent: %s", out)
	if n := len(s.Respondents()); n != 0 {
		t.Errorf("%d respondents, want none", n)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dst, 0o755)
}
