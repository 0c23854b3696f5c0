package selfupdate

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// maxLinkTarget bounds a symbolic link's target, as the kernel does.
const maxLinkTarget = 4096

// Limits of entry names: a package's paths are short and shallow; a name
// thousands of levels deep is a bomb of directories.
const (
	maxNameBytes     = 1024
	maxNameDepth     = 64
	maxNameComponent = 255
)

// cleanName returns an entry's name as a clean slash-separated path
// relative to the root ("." for the root itself), or an error saying why
// the name is refused. Backslashes count as separators.
func cleanName(entry, name string) (string, error) {
	n := strings.ReplaceAll(name, "\\", "/")
	switch {
	case n == "":
		return "", unsafeErr(entry, "has an empty name")
	case strings.IndexByte(n, 0) >= 0:
		return "", unsafeErr(entry, "has a NUL byte in its name")
	case path.IsAbs(n) || filepath.IsAbs(name) || filepath.VolumeName(name) != "" || hasVolume(n):
		return "", unsafeErr(entry, "has an absolute path")
	}
	if len(n) > maxNameBytes {
		return "", unsafeErr(entry, fmt.Sprintf("has a name of %d bytes, more than %d", len(n), maxNameBytes))
	}
	parts := strings.Split(n, "/")
	if len(parts) > maxNameDepth {
		return "", unsafeErr(entry, fmt.Sprintf("is %d levels deep, more than %d", len(parts), maxNameDepth))
	}
	for _, part := range parts {
		if part == ".." {
			return "", unsafeErr(entry, "climbs out with ..")
		}
		if len(part) > maxNameComponent {
			return "", unsafeErr(entry, fmt.Sprintf("has a path element of %d bytes, more than %d", len(part), maxNameComponent))
		}
	}
	return path.Clean(n), nil
}

// dirSet is the directories that the names seen so far make, for counting
// them before anything is unpacked.
type dirSet map[string]bool

// add records the directories name needs (name itself too, if it is a
// directory) and returns how many earlier names had not.
func (d dirSet) add(name string, isDir bool) int {
	n := 0
	p := path.Dir(name)
	if isDir {
		p = name
	}
	for ; p != "." && p != "/" && !d[p]; p = path.Dir(p) {
		d[p] = true
		n++
	}
	return n
}

// hasVolume reports a Windows drive letter ("C:") at the start of n, which
// is refused everywhere so that a package means the same on every system.
func hasVolume(n string) bool {
	return len(n) >= 2 && n[1] == ':' && (n[0]|0x20 >= 'a' && n[0]|0x20 <= 'z')
}

// claim checks an entry's name against all earlier ones and records it:
// no name twice (but a directory entry for a directory that earlier
// entries implied), and no name below a symbolic link or a regular file.
// It returns the clean name.
func (x *extractor) claim(entry string, k kind) (string, error) {
	name, err := cleanName(entry, entry)
	if err != nil {
		return "", err
	}
	if name == "." && k != kindDir {
		return "", unsafeErr(entry, "names the package root, which is a directory, as a "+k.String())
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		switch x.names[p] {
		case kindSymlink:
			return "", unsafeErr(entry, fmt.Sprintf("passes through symbolic link %q", p))
		case kindFile:
			return "", unsafeErr(entry, fmt.Sprintf("is below regular file %q", p))
		}
	}
	if was, ok := x.names[name]; ok && !(was == kindImplicitDir && k == kindDir) {
		return "", unsafeErr(entry, fmt.Sprintf("duplicates an earlier entry (a %s) of the same name %q", was, name))
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if _, ok := x.names[p]; ok {
			break // and so are its parents
		}
		x.names[p] = kindImplicitDir
	}
	x.names[name] = k
	return name, nil
}

// cleanTarget checks a symbolic link's target as text: not absolute, no
// NUL, not too long. Backslashes count as separators.
func cleanTarget(entry, target string) (string, error) {
	t := strings.ReplaceAll(target, "\\", "/")
	switch {
	case t == "":
		return "", unsafeErr(entry, "is a symbolic link to nothing")
	case len(t) > maxLinkTarget:
		return "", unsafeErr(entry, fmt.Sprintf("links to a target of %d bytes, more than %d", len(t), maxLinkTarget))
	case strings.IndexByte(t, 0) >= 0:
		return "", unsafeErr(entry, "has a NUL byte in its link target")
	case path.IsAbs(t) || filepath.IsAbs(target) || filepath.VolumeName(target) != "" || hasVolume(t):
		return "", unsafeErr(entry, "links to an absolute path "+target)
	}
	return t, nil
}

// resolveTarget resolves a symbolic link's target component by component
// from the link's directory, as the kernel would in a tree where the only
// symbolic links are the archive's, and returns every path it passes
// through. It is an error to pass through (or end at) another symbolic
// link of the archive, or to climb above the root.
func (x *extractor) resolveTarget(l pendingLink) ([]string, error) {
	var at []string // the components of where resolution is
	if d := path.Dir(l.name); d != "." {
		at = strings.Split(d, "/")
	}
	var passed []string
	for _, c := range strings.Split(l.target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(at) == 0 {
				return nil, unsafeErr(l.entry, fmt.Sprintf("links outside the package, above its root, with %q", l.target))
			}
			at = at[:len(at)-1]
		default:
			at = append(at, c)
		}
		p := path.Join(at...)
		if p == "" {
			p = "."
		}
		if x.names[p] == kindSymlink {
			return nil, unsafeErr(l.entry, fmt.Sprintf("links through symbolic link %q (links to links are refused)", p))
		}
		passed = append(passed, p)
	}
	return passed, nil
}
