// Package supervisor keeps worker processes running: it starts them in
// their own process groups, sees each exit the moment it happens, restarts
// with backoff and jitter, gives up on a crash loop, detects workers that
// hang (through workerproto pings), stops them gracefully and then
// forcefully with everything they started, and adopts or stops the workers
// an earlier run of the core left behind, identified by pid and process
// start time, never by name.
//
// The smallest use:
//
//	sup, _ := supervisor.New(supervisor.Config{OnEvent: func(e supervisor.Event) { log.Print(e) }})
//	sup.Add(supervisor.Spec{Name: "worker", Path: "/usr/bin/my-worker"})
//	err := sup.Serve(ctx) // until ctx ends; then every worker is stopped
//
// A worker that speaks workerproto (Spec.Protocol) is pinged every health
// interval and killed and replaced after MaxMissedPings unanswered pings —
// so a deadlocked or SIGSTOPped worker is noticed, which a check for the
// process alone never does. It reports readiness and telemetry events, and
// is asked to terminate before any signal.
//
// A worker's output (Spec.Output) can go to a log file the worker holds
// open itself (O_APPEND, rotated by size by the supervisor), or to the
// journal through a stream of its own, so that a worker that outlives its
// core — crashed, or restarted for an update — never dies of SIGPIPE,
// blocks, or loses a line for want of a reader.
//
// Exactly one copy of each worker: every process the supervisor starts
// carries a random mark of that start in its environment (MarkEnv), and
// the state file records the mark before the fork, so a core killed
// between the fork and the record of the pid leaves a state by which the
// next core finds the process (in /proc, as the group leader of our uid
// carrying the mark) and adopts it rather than start a second one.
//
// Nothing left behind: when a worker process ends, its process group is
// killed, and so is every process carrying its mark wherever it is in the
// process tree — descendants that setsid and double-fork included. On
// Linux Serve also makes the process a child subreaper
// (PR_SET_CHILD_SUBREAPER; Config.NoSubreaper turns it off), so such
// orphans are reparented to the core, and it reaps them; it never reaps a
// child that exec.Cmd waits for. What can still escape: a descendant that
// clears or rewrites its environment and also leaves the worker's process
// group (it is found neither by group nor by mark; a cgroup would catch it,
// and is not used), and, off Linux, any descendant that leaves the group.
// A descendant outside the worker's group that exits at the same moment as
// its own parent, before the supervisor has seen it alive, is not running
// but may stay a zombie of the core (one process table entry) until the
// core exits: the supervisor never reaps a child it cannot tell is a
// worker's.
//
// Every long-running part ends with Serve: when Serve returns, no worker
// process, no job and no goroutine of the supervisor is left. The package
// writes no logs; it reports typed Events through Config.OnEvent, Status
// returns a snapshot of every worker in the order they were added, and
// Ready gives the one answer to "are the workers healthy?" (every worker
// running, every worker with a protocol ready) with the reasons when not.
// After an update, RestartStale restarts the workers whose process still
// runs the executable their Spec.Path named before (Linux tells this from
// /proc/<pid>/exe).
//
// Platforms: Linux has everything. On macOS and other Unix systems workers
// run in their own process groups and are stopped the same way, but
// orphans of an earlier run are never adopted or stopped, because a
// process's start time is not read there and a pid alone could name an
// unrelated process; DieWithCore is Linux only. On Windows a worker starts
// in a new process group and is stopped with taskkill (/T for its process
// tree, /F at the stop timeout); there are no signals, so a plain worker is
// not asked to stop gracefully, while a workerproto worker is.
package supervisor
