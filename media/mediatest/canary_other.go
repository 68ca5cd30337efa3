//go:build !linux

package mediatest

import "testing"

func watchOpens(t testing.TB, dir string) int {
	t.Skip("mediatest: Canary needs inotify (Linux)")
	return -1
}

func opensUntil(t testing.TB, fd int, sentinel string) []string { return nil }

func touchOpen(t testing.TB, path string) {}
