//go:build !linux

package telemetry

import "os"

func datasync(f *os.File) error { return f.Sync() }
