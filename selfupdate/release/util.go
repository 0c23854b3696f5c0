package release

import (
	"fmt"
	"os"
	"runtime"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

const isWindows = runtime.GOOS == "windows"

// checkInput keeps f only if it is a regular file.
func checkInput(f *os.File, path string) (*os.File, error) {
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (mode %v): %w", path, fi.Mode().Type(), atomicfile.ErrUnsafe)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
