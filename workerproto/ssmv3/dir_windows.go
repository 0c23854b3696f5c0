package ssmv3

import (
	"fmt"
	"os"
)

// privateDir makes dir if missing; Windows has no Unix modes to set.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ssmv3: socket directory: %w", err)
	}
	return nil
}

func chmodSocket(string) error { return nil }
