// Package httprange reads the Content-Range of a partial HTTP or S3 answer.
package httprange

import (
	"strconv"
	"strings"
)

// Parse parses "bytes start-end/size" (size -1 for "*"), requiring
// start <= end < size.
func Parse(s string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	rng, total, found2 := strings.Cut(rest, "/")
	first, last, found3 := strings.Cut(rng, "-")
	if !found || !found2 || !found3 {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	size, err3 := int64(-1), error(nil)
	if total != "*" {
		size, err3 = strconv.ParseInt(total, 10, 64)
	}
	ok = err1 == nil && err2 == nil && err3 == nil && start >= 0 && start <= end && (size < 0 || end < size)
	return start, end, size, ok
}
