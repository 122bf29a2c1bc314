package kinds

import (
	"errors"

	"github.com/flowkit/flowkit/element"
)

// The branch names shared by several kinds.
const (
	BranchOccurred = "occurred"
	BranchTimeout  = "timeout"
	// BranchFailed is the exit "in all other cases" of Add to Flow and
	// "in case of any error" of Call API.
	BranchFailed = "failed"
)

// Registry returns a new registry holding the built-in kinds, the default
// of flow.Config.Elements. Hosts add their own kinds to it with its
// Register method or with RegisterCustom.
func Registry() *element.Registry {
	r := element.NewRegistry()
	for kind, f := range builtins {
		if err := r.Register(kind, f); err != nil {
			panic(err) // the built-in names are distinct
		}
	}
	return r
}

// builtins are the kinds of this package, by name.
var builtins = map[string]func() element.Element{
	"segmentAudience":        func() element.Element { return &SegmentAudience{} },
	"splitAudience":          func() element.Element { return &SplitAudience{} },
	"waitForEvent":           func() element.Element { return &WaitForEvent{} },
	"actionPaths":            func() element.Element { return &ActionPaths{} },
	"waitForChange":          func() element.Element { return &WaitForChange{} },
	"waitForDate":            func() element.Element { return &WaitForDate{} },
	"pause":                  func() element.Element { return &Pause{} },
	"updateProfile":          func() element.Element { return &UpdateProfile{} },
	"addTag":                 func() element.Element { return &AddTag{} },
	"removeTag":              func() element.Element { return &RemoveTag{} },
	"addToDoNotContact":      func() element.Element { return &AddToDoNotContact{} },
	"removeFromDoNotContact": func() element.Element { return &RemoveFromDoNotContact{} },
	"updateVariable":         func() element.Element { return &UpdateVariable{} },
	"sendMessage":            func() element.Element { return &SendMessage{} },
	"notify":                 func() element.Element { return &Notify{} },
	"startConversation":      func() element.Element { return &StartConversation{} },
	"addToFlow":              func() element.Element { return &AddToFlow{} },
	"callApi":                func() element.Element { return &CallAPI{} },
	"exit":                   func() element.Element { return &Exit{} },
}

// fieldErr wraps err as a *element.FieldError for field, prefixing the
// field to an inner FieldError's field.
func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *element.FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		return &element.FieldError{Field: field + "." + fe.Field, Err: fe.Err}
	}
	return &element.FieldError{Field: field, Err: err}
}
