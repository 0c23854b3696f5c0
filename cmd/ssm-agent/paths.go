package main

import (
	"os"
	"path/filepath"
)

// Default locations (see the architecture's on-disk layout): root uses the
// SSM Agent's; anyone else a tree under $XDG_STATE_HOME/ssm-agent or
// ~/.local/state/ssm-agent.
const (
	rootDataDir    = "/var/lib/amazon/ssm"
	rootLogDir     = "/var/log/amazon/ssm"
	rootInstallDir = "/opt/ssm-agent"
	rootConfigFile = "/etc/amazon/ssm/amazon-ssm-agent.json"
)

// userStateDir returns the state directory of a user who is not root.
func userStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ssm-agent")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".local", "state", "ssm-agent")
}

func isRoot() bool { return os.Geteuid() == 0 }

func defaultDataDir() string {
	if isRoot() {
		return rootDataDir
	}
	return filepath.Join(userStateDir(), "data")
}

func defaultLogDir() string {
	if isRoot() {
		return rootLogDir
	}
	return filepath.Join(userStateDir(), "log")
}

func defaultInstallDir() string {
	if isRoot() {
		return rootInstallDir
	}
	return filepath.Join(userStateDir(), "install")
}
