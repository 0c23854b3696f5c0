package supervisor_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependenciesOfAProgramImportingOnlySupervisor lists (go list -deps,
// no build) what a program that imports only this package links: the
// standard library and ssmkit's own packages, no other module — no AWS
// SDK, no telemetry, no selfupdate.
func TestDependenciesOfAProgramImportingOnlySupervisor(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH")
	}
	prog := filepath.Join(t.TempDir(), "main.go")
	src := "package main\n\nimport \"github.com/ssmkit/ssmkit/supervisor\"\n\nfunc main() { _, _ = supervisor.New(supervisor.Config{}) }\n"
	if err := os.WriteFile(prog, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{if .Standard}}std{{else}}{{with .Module}}{{.Path}}{{end}}{{end}}", prog)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOPROXY=off")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list -deps: %v\n%s", goos, err, exitStderr(err))
		}
		var own []string
		std := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, mod, _ := strings.Cut(line, " ")
			switch {
			case pkg == "command-line-arguments":
			case mod == "std":
				std++
			case mod == "github.com/ssmkit/ssmkit" && !strings.Contains(pkg, "telemetry") && !strings.Contains(pkg, "selfupdate"):
				own = append(own, pkg)
			default:
				t.Errorf("GOOS=%s: a program importing only supervisor depends on %s (module %q)", goos, pkg, mod)
			}
		}
		t.Logf("GOOS=%s: %d packages: %d of the standard library, %d of ssmkit (%s), none of another module", goos, std+len(own), std, len(own), strings.Join(own, " "))
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
