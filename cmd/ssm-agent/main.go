// Command ssm-agent is the reference agent of ssmkit: the core and worker of
// an SSM Agent v3 built from the ssmkit packages, and the tools around them.
//
// Usage:
//
//	ssm-agent [--config PATH] [--data-dir DIR] [--log-dir DIR] [--install-dir DIR] [<command> [flags]]
//
// Without a command it runs the core. Commands:
//
//	worker           the reference worker; started by the core
//	status           ask the running core how it is
//	update           self-update now (--now) or say what it would do (--check)
//	config           print the effective configuration and its warnings
//	version          print the agent's version
//	manifest check   decide whether an agent version should be updated
//	manifest sign    sign a manifest with a private key from keygen
//	keygen           make a key pair for signing manifests
//
// The global flags work before or after any command. Exit status: 0 on
// success, 1 when the command failed, 2 for a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// version is the agent's version, set at build time with
// -ldflags "-X main.version=3.1.0.0".
var version = "0.0.0.0"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(argsFor(os.Args), os.Stdin, os.Stdout, os.Stderr)) // argv0.go: the name it was started by
}

// streams are the command's standard streams.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// A command is one subcommand of ssm-agent.
type command struct {
	name    string // as typed, such as "manifest check"
	summary string
	run     func(s streams, g *globals, args []string) int
}

var commands = []command{
	{"worker", "the reference worker; started by the core, not by hand", runWorker},
	{"status", "ask the running core how it is", runStatus},
	{"update guardian", "finish an update in a process that survives the restart (internal)", runGuardian},
	{"update", "self-update now (--now) or say what it would do (--check)", runUpdate},
	{"config", "print the effective configuration and its warnings", runConfig},
	{"version", "print the agent's version", runVersion},
	{"manifest check", "decide whether an agent version should be updated", runManifestCheck},
	{"manifest sign", "sign a manifest with a private key from keygen", runManifestSign},
	{"keygen", "make a key pair for signing manifests", runKeygen},
	{"release", "publish releases: add, pause, resume, status (--halt), publish", runRelease},
}

// globals are the flags every command takes.
type globals struct {
	config, dataDir, logDir, installDir string
}

// addGlobalFlags registers the global flags on fs, writing into g.
func addGlobalFlags(fs *flag.FlagSet, g *globals) {
	fs.Var((*absPath)(&g.config), "config", "the configuration `PATH` (default: "+rootConfigFile+" if it exists, else built-in defaults)")
	fs.Var((*absPath)(&g.dataDir), "data-dir", "the data `DIR`ectory: spool, state, sockets")
	fs.Var((*absPath)(&g.logDir), "log-dir", "the log `DIR`ectory: audit files, worker output")
	fs.Var((*absPath)(&g.installDir), "install-dir", "the install `DIR`ectory: versions/ and current")
}

// absPath is a path flag made absolute as it is set: the core hands its
// directories to workers, guardians and the versions it execs, which may
// not share its working directory.
type absPath string

func (p *absPath) String() string { return string(*p) }

func (p *absPath) Set(v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return err
	}
	*p = absPath(abs)
	return nil
}

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{stdin, stdout, stderr}
	g := &globals{dataDir: defaultDataDir(), logDir: defaultLogDir(), installDir: defaultInstallDir()}
	gfs := flag.NewFlagSet("ssm-agent", flag.ContinueOnError)
	gfs.SetOutput(stderr)
	gfs.Usage = func() {}
	addGlobalFlags(gfs, g)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		usage(stderr)
		return exitUsage
	}
	args = gfs.Args()
	if len(args) == 0 {
		return runCore(s, g)
	}
	switch args[0] {
	case "help":
		usage(stdout)
		return exitOK
	}
	// The longest command name that prefixes args wins.
	var best *command
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) &&
			(best == nil || len(words) > len(strings.Fields(best.name))) {
			best = &commands[i]
		}
	}
	if best == nil {
		fmt.Fprintf(stderr, "ssm-agent: unknown command %q\n\n", strings.Join(args[:min(len(args), 2)], " "))
		usage(stderr)
		return exitUsage
	}
	return best.run(s, g, args[len(strings.Fields(best.name)):])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ssm-agent [--config PATH] [--data-dir DIR] [--log-dir DIR] [--install-dir DIR] [<command> [flags]]\n\n")
	fmt.Fprintf(w, "Without a command, runs the core. Commands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags, before or after the command:\n")
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	addGlobalFlags(fs, &globals{dataDir: defaultDataDir(), logDir: defaultLogDir(), installDir: defaultInstallDir()})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nRun 'ssm-agent <command> -h' for the flags of a command.\n")
}

// newFlagSet returns a flag set for a command, with the global flags,
// whose usage error messages and help go to stderr.
func newFlagSet(s streams, g *globals, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("ssm-agent "+name, flag.ContinueOnError)
	addGlobalFlags(fs, g)
	fs.SetOutput(s.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ssm-agent %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and returns the exit status to stop with,
// if parsing says to stop: exitOK for -h, exitUsage for a bad command line.
func parseFlags(fs *flag.FlagSet, args []string) (status int, stop bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0)), true
	}
	return 0, false
}

// usageError reports a bad command line and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

// failure reports a failed command in one line and returns exitFailure.
func failure(s streams, name string, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(s.stderr, "ssm-agent %s: %s\n", name, msg)
	return exitFailure
}

func runVersion(s streams, g *globals, args []string) int {
	fs := newFlagSet(s, g, "version", "")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	fmt.Fprintln(s.stdout, version)
	return exitOK
}
