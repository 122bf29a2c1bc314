package element

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/flowkit/flowkit/internal/suggest"
)

// Registry holds the element kinds one engine knows, by the name flows use
// in "type". kinds.Registry returns one with the built-in kinds; hosts add
// their own with Register (and kinds.RegisterCustom). Each engine has its
// own (flow.Config.Elements), so two engines in one process may give the
// same name to different kinds. A Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]func() Element
}

// NewRegistry returns an empty registry: package kinds has one with the
// built-in kinds.
func NewRegistry() *Registry {
	return &Registry{m: map[string]func() Element{}}
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
