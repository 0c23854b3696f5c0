//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const nobody = 65534

// TestAgentRefusesUntrustedDirs plants, as another user would, foreign
// owners, open modes and symbolic links at each directory the core uses:
// the core refuses to start with one line that names the path and the fix,
// and changes nothing at the link's target.
func TestAgentRefusesUntrustedDirs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give directories to another user")
	}
	bin := agentBinary(t, "3.1.0.0")
	tests := []struct {
		name  string
		plant func(a *agent, canary string) string // returns the path the error must name
	}{
		{"data-dir-foreign", func(a *agent, _ string) string { return mkdirOwned(t, a.path("data"), nobody, 0o700) }},
		{"data-dir-open", func(a *agent, _ string) string { return mkdirOwned(t, a.path("data"), 0, 0o777) }},
		{"data-parent-foreign", func(a *agent, _ string) string {
			p := mkdirOwned(t, a.path("parent"), nobody, 0o755)
			a.dataDir = filepath.Join(p, "data")
			return p
		}},
		{"supervisor-foreign", func(a *agent, _ string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return mkdirOwned(t, a.path("data", "supervisor"), nobody, 0o700)
		}},
		{"telemetry-group-writable", func(a *agent, _ string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return mkdirOwned(t, a.path("data", "telemetry"), 0, 0o770)
		}},
		{"update-foreign", func(a *agent, _ string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return mkdirOwned(t, a.path("data", "update"), nobody, 0o700)
		}},
		{"log-dir-foreign", func(a *agent, _ string) string { return mkdirOwned(t, a.path("log"), nobody, 0o755) }},
		{"install-dir-foreign", func(a *agent, _ string) string { return mkdirOwned(t, a.path("install"), nobody, 0o755) }},
		{"installed-version-foreign", func(a *agent, _ string) string {
			mkdirOwned(t, a.path("install"), 0, 0o755)
			mkdirOwned(t, a.path("install", "versions"), 0, 0o755)
			return mkdirOwned(t, a.path("install", "versions", "3.1.0.0"), nobody, 0o755)
		}},
		{"segments-foreign", func(a *agent, _ string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			mkdirOwned(t, a.path("data", "telemetry"), 0, 0o700)
			return mkdirOwned(t, a.path("data", "telemetry", "segments"), nobody, 0o700)
		}},
		{"ipc-symlink", func(a *agent, canary string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return symlink(t, canary, a.path("data", "ipc"))
		}},
		{"supervisor-symlink", func(a *agent, canary string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return symlink(t, canary, a.path("data", "supervisor"))
		}},
		{"telemetry-symlink", func(a *agent, canary string) string {
			mkdirOwned(t, a.path("data"), 0, 0o700)
			return symlink(t, canary, a.path("data", "telemetry"))
		}},
		{"audits-symlink", func(a *agent, canary string) string {
			mkdirOwned(t, a.path("log"), 0, 0o755)
			return symlink(t, canary, a.path("log", "audits"))
		}},
		{"data-link-by-foreign-user", func(a *agent, canary string) string {
			p := symlink(t, canary, a.path("data"))
			if err := os.Lchown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, bin, "")
			canary := filepath.Join(t.TempDir(), "canary")
			mkdirOwned(t, canary, 0, 0o755)
			os.WriteFile(filepath.Join(canary, "keep"), []byte("keep"), 0o644)
			want := tt.plant(a, canary)
			// `config` refuses the same tree, with the same path named.
			if out, _, err := a.run("config"); err == nil {
				t.Errorf("config accepts the tree:\n%s", out)
			}
			cmd := a.command()
			out, err := cmd.CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err == nil || len(lines) != 1 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], ": ") {
				t.Fatalf("core over %s: %v, output:\n%s\nwant one line naming %s", tt.name, err, out, want)
			}
			if fi, err := os.Stat(canary); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("the canary's mode changed: %v %v", fi.Mode(), err)
			}
			if entries, _ := os.ReadDir(canary); len(entries) != 1 {
				t.Errorf("files appeared in the canary: %v", entries)
			}
		})
	}
	// And the same trees fixed start.
	a := newAgent(t, bin, "")
	mkdirOwned(t, a.path("data"), 0, 0o700)
	a.start()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
}

func (a *agent) path(parts ...string) string {
	return filepath.Join(append([]string{a.dir}, parts...)...)
}

func mkdirOwned(t *testing.T, p string, uid int, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestAgentRefusesUntrustedPrograms: a worker's program that another user
// owns, or that sits in a directory another user owns, is never run as
// root: the core and `config` refuse, naming it.
func TestAgentRefusesUntrustedPrograms(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	bin := agentBinary(t, "3.1.0.0")
	for _, tt := range []struct {
		name  string
		plant func(dir string) string // returns the program
	}{
		{"foreign-file", func(dir string) string {
			p := filepath.Join(dir, "prog")
			os.WriteFile(p, []byte("#!/bin/sh\nsleep 100\n"), 0o755)
			os.Chown(p, nobody, nobody)
			return p
		}},
		{"foreign-dir", func(dir string) string {
			d := mkdirOwned(t, filepath.Join(dir, "bin"), nobody, 0o755)
			p := filepath.Join(d, "prog")
			os.WriteFile(p, []byte("#!/bin/sh\nsleep 100\n"), 0o755)
			return p
		}},
		{"group-writable", func(dir string) string {
			p := filepath.Join(dir, "prog")
			os.WriteFile(p, []byte("#!/bin/sh\nsleep 100\n"), 0o755)
			os.Chmod(p, 0o775)
			return p
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prog := tt.plant(t.TempDir())
			a := newAgent(t, bin, `{"Workers": [{"Name": "w", "Protocol": "none", "Path": "`+prog+`"}]}`)
			if out, _, err := a.run("config"); err == nil {
				t.Errorf("config accepts the program:\n%s", out)
			}
			out, err := a.command().CombinedOutput()
			if err == nil || !strings.Contains(string(out), "program "+prog) {
				t.Errorf("core over %s: %v\n%s", tt.name, err, out)
			}
		})
	}
}
