package segment

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// zones caches time zones by IANA name (nil for an invalid name), because
// time.LoadLocation reads the zone database on every call. Reads take no
// lock; a miss copies the map. The cache holds at most maxZones names, so
// that arbitrary attribute values cannot grow it without bound.
var zones struct {
	m  atomic.Pointer[map[string]*time.Location]
	mu sync.Mutex
}

const maxZones = 1024

// loadZone returns the location of an IANA name, and nil when the name is
// empty or not a valid zone. "Local" is not a valid name here: the host's
// zone means nothing for a person.
func loadZone(name string) *time.Location {
	if name == "" || name == "Local" {
		return nil
	}
	if m := zones.m.Load(); m != nil {
		if loc, ok := (*m)[name]; ok {
			return loc
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	zones.mu.Lock()
	defer zones.mu.Unlock()
	old := zones.m.Load()
	var next map[string]*time.Location
	if old == nil {
		next = map[string]*time.Location{}
	} else if len(*old) < maxZones {
		next = maps.Clone(*old)
	} else {
		return loc
	}
	next[name] = loc
	zones.m.Store(&next)
	return loc
}
