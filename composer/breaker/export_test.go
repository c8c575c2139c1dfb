package breaker

import "fmt"

// Inspect describes, for a test, all a fragment version's guard holds: which
// guard it is, its bulkhead's count, gobreaker's counts and state as last
// told, and the end of its open spell. It asks gobreaker only for its counts,
// which moves nothing.
func Inspect(t *Transport, fragment, version string) string {
	g, _ := t.guards.Load(key{fragment, version})
	if g == nil {
		return "no guard"
	}
	s := fmt.Sprintf("guard %p in flight %d", g, g.inFlight.Load())
	if g.cb != nil {
		s += fmt.Sprintf(" counts %+v tripped %v until %d", g.cb.Counts(), g.tripped.Load(), g.until.Load())
	}
	return s
}

// HoldGuards holds the lock under which guards are made, as a guard being
// made for another fragment does, until release.
func HoldGuards(t *Transport) (release func()) {
	return t.guards.Hold()
}
