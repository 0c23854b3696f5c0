//go:build !linux

package main

// releaseStartupPagesLater does nothing off Linux (startpages_linux.go).
func releaseStartupPagesLater() {}
