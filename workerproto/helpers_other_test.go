//go:build !linux

package workerproto

// platformHelper: the helper processes of trust_test.go are Linux only.
func platformHelper(string) (int, bool) { return 0, false }
