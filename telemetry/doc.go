// Package telemetry is a durable event pipeline for a host agent: Record
// puts an event on disk, and Serve delivers every recorded event to every
// sink at least once, across crashes, outages and full disks. It knows no
// agent's vocabulary: events are a type, a name, a version and string
// attributes of your own. Sinks are small (a Name and a Send); AuditFiles
// writes daily local audit files (the SSM Agent's format by default),
// telemetry/cloudwatch delivers to CloudWatch Logs and Metrics,
// telemetry/ssm holds the SSM Agent's event names and its channel to AWS
// (sent by telemetry/awschannel), and telemetry/telemetrytest checks a
// sink of your own.
//
// The smallest use:
//
//	p, err := telemetry.Open(telemetry.Config{Dir: dir, Sinks: []telemetry.SinkConfig{
//		{Sink: &telemetry.AuditFiles{Dir: auditDir}},
//	}})
//	if err != nil { … }
//	go p.Serve(ctx)
//	defer p.Close(shutdownCtx) // stops Serve, then delivers what it can
//	err = p.Record(ctx, telemetry.Event{Type: "myagent", Name: "start"})
//
// What it guarantees:
//
//   - Record returns nil only once the event is fdatasynced; concurrent
//     Records share one write and one sync (group commit). Records carry a
//     CRC-32C and a sequence number; a torn one is cut off at Open.
//   - A full or failing disk is a state, not a crash. Record then returns
//     an error wrapping ErrNotRecorded and the cause (syscall.ENOSPC,
//     EDQUOT, EIO); what was recorded before is kept, not dropped for new
//     events. SpoolStatus says the spool is degraded and why, and
//     Config.OnError is told (with an empty sink name). When there is
//     room again recording resumes by itself. With too little room to
//     preallocate a segment, segments grow as events are appended: the
//     pipeline opens and records, degraded, with a few kilobytes free.
//   - Disk use follows the data: a start reuses the newest segment and a
//     spare segment left by the last run, so starting costs no space; the
//     next segment is prepared only when the active one is half full and
//     the disk has twice its size free. Config.MaxBytes bounds the spool
//     (the oldest events are dropped, counted and recorded as
//     telemetry.dropped), and SinkConfig.MaxPendingBytes bounds what is
//     kept for a sink that is not configured yet (default 1 MiB).
//   - Each sink reads from its own checkpoint in bounded batches, from
//     one goroutine: never two Sends at once. Retryable errors are retried
//     with backoff and jitter, permanent ones dropped and counted. A
//     LocalSink (AuditFiles) gets events as soon as they are durable;
//     remote sinks gather them for their flush interval. Checkpoints are
//     written beside delivery; after a crash what was delivered since the
//     last one is sent again, with the same event IDs.
//   - Serve runs once at a time (ErrServing otherwise); Close stops and
//     joins it before delivering the rest.
//   - Audit files are bounded per day (MaxDayBytes, default 10 MiB, the
//     drops counted in the file's last line) and in all (MaxTotalBytes,
//     default 100 MiB) as well as in days (Keep).
//   - No file is opened through a symbolic link or when it has another
//     hard link: a planted entry at a segment, spare, checkpoint or audit
//     file name is replaced by one of the pipeline's own (its target
//     untouched), and linked directories of its own are refused. Files
//     have mode 0600 and directories 0700, set whatever the umask. The
//     directories above Config.Dir and AuditFiles.Dir are the caller's to
//     check.
//
// # Conventions
//
// Configuration (Config, SinkConfig, AuditFiles and the sinks of the
// subpackages) follows one rule: the zero value of a field means its
// documented default, and every default is an exported Default* constant.
// "None" is an explicit field (AuditFiles.NoHeader), never a magic
// number. A negative or out-of-range value is an error that names the
// field and the rule, returned by Open (or by a sink's Validate, which Open
// calls), before anything is created:
//
//	telemetry: Config.Sinks[0] (audit): AuditFiles.Keep is -1, want at least 1 (0: the default, 7)
//
// Sentinel errors (ErrNotConfigured, ErrNotRecorded, ErrDegraded,
// ErrServing, ErrClosed) have no prefix; match them with errors.Is. The
// prefix "telemetry: " is added once, where an error leaves the package:
// by Open, Record, Serve, Close and in what Config.OnError is told
// ("telemetry: sink audit: audit files: …", "telemetry: spool degraded:
// …"). A sink's own errors start with the sink's name ("audit files: …",
// "cloudwatch logs: …") and never with a package prefix, since the
// pipeline adds it; SinkStatus.LastError and SpoolStatus.Reason hold them
// without one.
package telemetry
