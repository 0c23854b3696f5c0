// Package procid names a process so that it can be recognised later — by
// pid and start time (and boot), never by name — so that a pid reused by
// an unrelated process never matches.
package procid

// An ID identifies one process instance.
type ID struct {
	PID int `json:"pid"`
	// StartTicks is the process's start time in clock ticks after boot
	// (Linux); zero where the platform does not tell.
	StartTicks uint64 `json:"start_ticks,omitempty"`
	// BootID identifies the boot (Linux), so that an ID saved before a
	// reboot matches nothing after it.
	BootID string `json:"boot_id,omitempty"`
}

// Self returns the ID of the calling process.
func Self() ID { return Of(osGetpid()) }
