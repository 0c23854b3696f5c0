package main

import "io/fs"

// ownedByMe: Windows has no owner in a FileInfo; the data directory's ACL
// decides.
func ownedByMe(fs.FileInfo) bool { return true }
