package kinds_test

import (
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/steprun"
	"github.com/flowkit/flowkit/internal/steptest"
	"github.com/flowkit/flowkit/kinds"
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

// services returns the services a test step lends its kind.
func services(r *element.Run) *kinds.Services { return r.Services.(*kinds.Services) }

// runOps read back what a test step recorded, as the engine does.
var runOps = steprun.Get[element.Run, element.Outcome]()
