// Package peercred tells who is at the other end of a Unix socket, as the
// kernel says (SO_PEERCRED on Linux), so that a peer cannot lie about it.
package peercred
