//go:build race

package postgres_test

// lateSlack scales the lateness TestKill and TestRestart allow: the race
// detector slows every process several times over.
const lateSlack = 3
