package kinds_test

import (
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/steptest"
	"github.com/flowkit/flowkit/store"
)

// The expression tests' declarations and step.
var (
	exprVars   = steptest.Vars
	exprSchema = steptest.Schema
	exprNow    = steptest.Now
	exprPerson = steptest.PersonID
)

func exprCompiler() *element.Compiler { return steptest.Compiler() }

func exprRun() *element.Run { return steptest.Run() }

// effects returns what a test step recorded: the person when it changed
// it and the events it emitted.
func effects(r *element.Run) (*store.Person, []*store.Event) {
	e := r.Effects()
	return e.Person, e.Events
}
