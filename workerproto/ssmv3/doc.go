// Package ssmv3 speaks the IPC of SSM Agent v3's core and worker, so that
// an ssmkit core can supervise an unmodified ssm-agent-worker and an ssmkit
// worker can run under an unmodified v3 core. The smallest use, a core
// that supervises an ssm-agent-worker:
//
//	core, err := ssmv3.ListenCore(ssmv3.CoreConfig{}) // the v3 socket paths
//	sup.Add(supervisor.Spec{Name: "ssm-agent-worker", Path: worker,
//		Protocol: supervisor.ProtocolProbe, Probe: core})
//
// and a worker that runs under a v3 core:
//
//	w := &ssmv3.Worker{}
//	err := w.Serve(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil })
//
// The v3 IPC is nanomsg's SP protocol, Surveyor (the core) and Respondent
// (the worker), over two Unix stream sockets: health and termination
// (/var/lib/amazon/ssm/ipc/ on Linux). On the wire:
//
//   - Connection header: each side sends 8 bytes, 0x00 'S' 'P' 0x00, its
//     protocol number big-endian (Surveyor 0x0062, Respondent 0x0063) and
//     0x00 0x00, and reads the peer's; anything else closes the connection.
//   - Frames: the byte 0x01, the length as 64-bit big-endian, then the SP
//     header and the body; over 1 MiB is refused.
//   - Surveys: the surveyor puts a 4-byte big-endian survey id with the top
//     bit set in front of the body; the respondent echoes it in front of
//     its reply. Replies with another id than the current survey's are
//     dropped, and a new survey cancels the previous one.
//   - Bodies: compact JSON {"SchemaVersion":1,"Topic":...,"Payload":...}
//     whose payload is a JSON document in base64 (a Go []byte), or null.
//
// Surveyor and Respondent are the two ends of one socket; Core and Worker
// put them together as the v3 core and worker use them. A Core is a
// supervisor.Prober: give it to a supervisor.Spec with ProtocolProbe.
//
// Where the v3 peers are weak, this package is not: the v3 worker's reply
// to TerminateWorkerRequest is lost because it closes its socket at once,
// so Core.Terminate does not wait for it; the sockets are 0600 in a 0700
// directory whatever the umask, and on Linux a respondent whose user is
// neither the core's nor root is closed before the connection header and
// every reply is checked against the sender's process id as the kernel
// tells it; and a worker redials a core that is not there yet within
// seconds, with jitter, not five minutes.
package ssmv3
