// Package telemetry is a durable event pipeline for a host agent: Record
// puts an event on disk, and Serve delivers every recorded event to every
// sink at least once, across crashes, outages and full disks. Sinks
// include the SSM Agent's audit files (AuditFiles), its AWS channel
// (SSMChannel, with telemetry/awschannel), and CloudWatch
// (telemetry/cloudwatch); telemetry/telemetrytest checks any other.
//
//	p, err := telemetry.Open(telemetry.Config{Dir: dir, Sinks: []telemetry.SinkConfig{
//		{Sink: &telemetry.AuditFiles{Dir: auditDir}},
//	}})
//	if err != nil { … }
//	go p.Serve(ctx)
//	defer p.Close(shutdownCtx) // stops Serve, then delivers what it can
//	err = p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
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
package telemetry
