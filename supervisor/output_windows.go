package supervisor

import (
	"errors"
	"os"
)

const (
	oNoFollow = 0
	oNonblock = 0
)

// chmodFile does nothing: Windows files have no Unix modes.
func chmodFile(*os.File, os.FileMode) error { return nil }

// inheritedJournal returns nil: there is no journal on Windows.
func inheritedJournal() *os.File { return nil }

func openJournal(*Output) (stdout, stderr *os.File, err error) {
	return nil, nil, errors.New("supervisor: journal output: " + errNotSupported.Error())
}
