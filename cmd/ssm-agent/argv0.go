package main

import (
	"path/filepath"
	"runtime"
	"strings"
)

// One binary, several names, so that it can replace either file of an SSM
// Agent v3 installation:
//
//	ssm-agent-worker   the v3 worker: the same as 'ssm-agent worker --protocol
//	                   ssm-v3', with SSM's sockets (root:
//	                   /var/lib/amazon/ssm/ipc/health and termination;
//	                   anyone else: the data directory's ipc/health and
//	                   ipc/termination). SSM's core starts it with no
//	                   arguments. It never runs a core: any arguments are
//	                   the worker's flags.
//	amazon-ssm-agent   the core, as ssm-agent (every command works).
//	anything else      ssm-agent.
//
// The name is the base name of argv[0], ".exe" stripped.

// v3WorkerName is the name under which the binary is the v3 worker.
const v3WorkerName = "ssm-agent-worker"

// argsFor returns the command line to run for a process started as argv.
func argsFor(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	if invokedAs(argv[0]) == v3WorkerName {
		return append([]string{"worker", "--protocol", "ssm-v3"}, argv[1:]...)
	}
	return argv[1:]
}

// invokedAs returns the name a program was started by: argv[0]'s base
// name without ".exe" (any case); on Windows, whose file names ignore case,
// in lower case.
func invokedAs(argv0 string) string {
	name := argv0[strings.LastIndexAny(argv0, `/`+string(filepath.Separator))+1:]
	if len(name) > 4 && strings.EqualFold(name[len(name)-4:], ".exe") {
		name = name[:len(name)-4]
	}
	if runtime.GOOS == "windows" {
		name = strings.ToLower(name)
	}
	return name
}
