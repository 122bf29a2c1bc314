// Package flow is flowkit's front door: the flow graph (Flow, built in Go
// with New and Add or read from JSON with Parse), its validation, and the
// Engine that runs it.
//
// A host builds an Engine over a Store (store/memory embedded, or
// store/postgres for many processes), publishes flows, activates them, and
// then drives the engine: Enter puts people into flows, Deliver hands it
// events, UpdatePerson changes profiles, and Tick fires due timers (NextDue
// says when; Run is a ready loop). The engine never sleeps: it reads its
// Clock, and the host's calls drive it. Its only goroutines make the calls
// outside of steps in flight (Call API, sends, custom kinds), at most
// Config.EffectConcurrency at once; each ends before the engine call
// that started it returns, except that a Call API element not waiting for
// its response drains that response on one. Every call runs one person's steps in one store
// transaction; a step that calls outside commits its intent first and its
// result in a second transaction, so concurrent calls, in one process or
// many, never run a step twice.
//
// Deploy publishes a flow at start-up only when no version has its
// document yet, so a rolling deploy does not flip versions (DeployWith
// may migrate the waiting). Participants are pinned to the flow version
// they entered (Migrate moves them to another version, keeping their
// arrival times; Operate cancels or retries them in bulk), keep a journal
// of their steps with the reason for each, and leave a flow by an exit, an
// unconnected branch, an error, the flow's schedule end, a year without an
// element activated, or the flow being canceled. Per-element statistics
// come from Stats; goals with a window convert participants after they
// left too. Experiments (a Split Audience with a control group that is
// held out of every message, or a flow's holdout) report their figures
// and significance through Experiments, and one that ends sends later
// participants down its winner in every process.
//
// Tests run months of waits in milliseconds on a clock.Fake with the
// flowtest package.
package flow
