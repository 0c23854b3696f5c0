// Package workerproto is the protocol between an agent's core and the worker
// processes it starts: the core learns within seconds whether a worker is
// alive and answering, tells it to stop and hears that it is stopping, and
// receives its telemetry events. Any Go program can be a worker by importing
// this package; it needs nothing else of ssmkit. The smallest worker:
//
//	w := &workerproto.Worker{Name: "my-worker", Version: "1.0"}
//	err := w.Serve(ctx, func(ctx context.Context) error {
//		w.Ready()
//		<-ctx.Done() // the core asked us to stop, or is gone for good
//		return nil
//	})
//
// and the core's side, which a supervisor.Spec with ProtocolWorkerproto
// does for you:
//
//	l, err := workerproto.Listen(path, workerproto.ListenConfig{})
//	secret, err := workerproto.NewSecret()
//	l.Authorize("worker-1", secret, 0) // the pid is not known before the fork
//	cmd.Env = append(os.Environ(), workerproto.Env(path, secret)...)
//	… start cmd …
//	l.SetPID("worker-1", cmd.Process.Pid)
//	c, err := l.Accept(ctx)
//	pong, err := c.Ping(ctx)
//
// The core listens on a Unix socket in a directory closed to other users
// (Listen) and gives each worker it starts a random 256-bit Secret and the
// socket's path through the environment (Env). The worker presents the
// secret in its hello; the core compares it in constant time and, on Linux,
// checks the peer's uid and pid from the kernel: the connection is welcomed
// only if its peer is the process the secret was issued to (Authorize,
// SetPID), so a process that read the secret from /proc/<pid>/environ is
// refused before the welcome and none of its events is ever delivered. A
// connection without a valid hello within the handshake timeout is closed;
// connections from processes the core does not expect wait in a separate,
// bounded pool with a shorter timeout, so a flood of them never keeps a
// worker out.
//
// Messages are length-prefixed JSON objects (a 4-byte big-endian length,
// then the object), at most 1 MiB by default; the limit is checked before
// anything is allocated, and an oversized or malformed frame ends that
// connection only. The hello carries the protocol versions the worker
// speaks and the core picks the highest common one. Unknown fields are
// ignored and unknown message types get an error reply, so either side can
// grow.
//
// Worker.Serve answers pings by itself and, when the core goes away,
// redials with backoff for a grace period, so that a restarted core takes
// the worker over without a restart.
//
// The package uses the standard library only. It writes no logs: refused
// connections are reported through ListenConfig.OnReject, and no error or
// printed value ever contains a secret.
package workerproto
