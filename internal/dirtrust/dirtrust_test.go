//go:build unix

package dirtrust

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	// A root-owned program directly in a root-owned sticky directory (as
	// /tmp is) is trusted: nobody else can replace it there.
	sticky := t.TempDir()
	os.Chmod(sticky, os.ModeSticky|0o777)
	prog := filepath.Join(sticky, "prog")
	os.WriteFile(prog, []byte("x"), 0o755)
	if err := CheckFile(prog); err != nil {
		t.Errorf("CheckFile in a sticky directory: %v", err)
	}
	// Not so a sticky directory as the one checked, nor a program another
	// user owns or can write.
	if err := Check(sticky); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Check of a world-writable sticky directory itself = %v", err)
	}
	os.Chown(prog, 65534, 65534)
	if err := CheckFile(prog); !errors.Is(err, ErrUntrusted) {
		t.Errorf("CheckFile of another user's program = %v", err)
	}
	os.Chown(prog, 0, 0)
	os.Chmod(prog, 0o775)
	if err := CheckFile(prog); !errors.Is(err, ErrUntrusted) {
		t.Errorf("CheckFile of a group-writable program = %v", err)
	}
}
