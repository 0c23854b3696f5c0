package release

import "runtime"

const isWindows = runtime.GOOS == "windows"
