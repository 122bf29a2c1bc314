//go:build !race

package postgres_test

// lateSlack scales the lateness TestKill and TestRestart allow (see
// race_test.go).
const lateSlack = 1
