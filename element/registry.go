package element

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/flowkit/flowkit/internal/suggest"
)

// Registry holds the element kinds one engine knows, by the name flows use
// in "type". NewRegistry returns one with the built-in kinds; hosts add
// their own with Register and RegisterCustom. Each engine has its own
// (flow.Config.Elements), so two engines in one process may give the same
// name to different kinds. A Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]func() Element
}

// NewRegistry returns a registry holding the built-in kinds.
func NewRegistry() *Registry {
	r := &Registry{m: make(map[string]func() Element, len(builtins))}
	for kind, f := range builtins {
		r.m[kind] = f
	}
	return r
}

// builtins are the kinds of this package, by name.
var builtins = map[string]func() Element{
	"segmentAudience":        func() Element { return &SegmentAudience{} },
	"splitAudience":          func() Element { return &SplitAudience{} },
	"waitForEvent":           func() Element { return &WaitForEvent{} },
	"waitForChange":          func() Element { return &WaitForChange{} },
	"waitForDate":            func() Element { return &WaitForDate{} },
	"pause":                  func() Element { return &Pause{} },
	"updateProfile":          func() Element { return &UpdateProfile{} },
	"addTag":                 func() Element { return &AddTag{} },
	"removeTag":              func() Element { return &RemoveTag{} },
	"addToDoNotContact":      func() Element { return &AddToDoNotContact{} },
	"removeFromDoNotContact": func() Element { return &RemoveFromDoNotContact{} },
	"updateVariable":         func() Element { return &UpdateVariable{} },
	"sendMessage":            func() Element { return &SendMessage{} },
	"notify":                 func() Element { return &Notify{} },
	"startConversation":      func() Element { return &StartConversation{} },
	"addToFlow":              func() Element { return &AddToFlow{} },
	"callApi":                func() Element { return &CallAPI{} },
	"exit":                   func() Element { return &Exit{} },
}

// Register adds an element kind under its name. newElement returns a new,
// empty element of the kind. It fails for an empty or taken name and a
// nil constructor.
func (r *Registry) Register(kind string, newElement func() Element) error {
	if kind == "" || newElement == nil {
		return errors.New("element: Register with an empty kind or a nil constructor")
	}
	return r.add(kind, newElement)
}

func (r *Registry) add(kind string, f func() Element) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[kind]; dup {
		return fmt.Errorf("element: kind %q is already registered", kind)
	}
	r.m[kind] = f
	return nil
}

// ErrUnknownKind is returned by Registry.New for a kind nobody registered.
var ErrUnknownKind = errors.New("unknown element kind")

// New returns a new, empty element of a registered kind.
func (r *Registry) New(kind string) (Element, error) {
	r.mu.RLock()
	f, ok := r.m[kind]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q%s", ErrUnknownKind, kind, suggest.DidYouMean(kind, r.Kinds()))
	}
	return f(), nil
}

// Kinds returns the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Blank returns a new, unconfigured element of el's kind, custom kinds
// included, without a registry: for copying a flow through its JSON form.
// It returns nil when el is not a pointer to a struct.
func Blank(el Element) Element {
	if c, ok := el.(*Custom); ok {
		return &Custom{kind: c.kind, spec: c.spec}
	}
	t := reflect.TypeOf(el)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	blank, _ := reflect.New(t.Elem()).Interface().(Element)
	return blank
}
