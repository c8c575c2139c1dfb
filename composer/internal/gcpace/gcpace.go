// Package gcpace spaces the collector's cycles out while the live heap is
// small.
//
// At GOGC=100 the runtime starts a cycle each time the heap has grown by
// as much as was live after the last one. A composer serving thousands of
// pages a second with 4 MB live allocates that much every few tens of
// milliseconds: it collects thirty times a second, a fixed cost each time
// (every goroutine's stack scanned, the mark workers started and stopped),
// about a tenth of its CPU in the harness's busiest row.
//
// The pacer sets GOGC after each cycle so that the next one starts once
// the heap has grown by at least Headroom bytes:
//
//	GOGC = max(base, Headroom*100/live)
//
// live counting the stacks and globals the collector scans, as the
// runtime's heap goal does, and GOGC bounded so that the runtime's
// minimum goal, which scales with it, stays within live + Headroom.
// base is GOGC as the process was started with (100 unless set). Once the
// live heap is larger than Headroom, base rules: a busy process with much
// live (a thousand pages waiting on slow fragments) peaks where it did,
// and a small one holds at most Headroom more than the runtime alone
// would. GOMEMLIMIT still applies over both. GOGC=off is left alone.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// runtimeMinimumHeap is the runtime's least heap goal at GOGC=100; it
// scales with GOGC, so a large GOGC with almost nothing live (a process
// just started) would put the goal far past live + headroom.
const runtimeMinimumHeap = 4 << 20

// MaxHeadroom is the most Start takes: more is taken as this much, which
// is already no collection at all on any machine the composer runs on
// (and keeps the pacer's arithmetic far from overflowing).
const MaxHeadroom = 64 << 30

var (
	mu      sync.Mutex
	users   []int64 // each Start's headroom, until its stop
	base    int     // GOGC before the first Start
	percent int     // GOGC as last set
	gen     int     // bumped when the last user stops: an armed sentinel of an older generation ends
	adjusts int     // cycles seen, for tests
)

// Start paces the collector with headroom bytes (see the package
// comment) until the returned stop is called. Several may run at once
// (composers in one test process): the largest headroom applies; the
// last stop puts GOGC back. headroom <= 0, or GOGC=off, does nothing.
func Start(headroom int64) (stop func()) {
	if headroom <= 0 {
		return func() {}
	}
	headroom = min(headroom, MaxHeadroom)
	mu.Lock()
	defer mu.Unlock()
	if len(users) == 0 {
		base = debug.SetGCPercent(100)
		debug.SetGCPercent(base)
		if base < 0 {
			return func() {}
		}
		percent = base
	}
	users = append(users, headroom)
	if len(users) == 1 { // the first: no sentinel armed
		arm(gen)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			for i, h := range users {
				if h == headroom {
					users = append(users[:i], users[i+1:]...)
					break
				}
			}
			if len(users) == 0 {
				gen++
				if percent != base {
					debug.SetGCPercent(base)
					percent = base
				}
			}
		})
	}
}

// sentinel is garbage from the moment it is armed: its finalizer runs
// after the cycle that finds it so, once a cycle. The pointer keeps it
// out of the tiny allocator, whose blocks hold several objects and are
// freed together.
type sentinel struct {
	gen int
	_   *int
}

func arm(g int) {
	runtime.SetFinalizer(&sentinel{gen: g}, func(s *sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if s.gen != gen {
			return
		}
		adjust()
		arm(gen)
	})
}

// The runtime's heap goal is live + (live + stacks + globals) * GOGC/100:
// GOGC scales all three.
var sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}

// adjust sets GOGC for the next cycle from what the last one found
// live. mu is held.
func adjust() {
	metrics.Read(sample)
	var v [3]int64
	for i, s := range sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		v[i] = int64(s.Value.Uint64())
	}
	adjusts++
	heap, scanned := v[0], v[0]+v[1]+v[2]
	if scanned <= 0 {
		return
	}
	var headroom int64
	for _, h := range users {
		headroom = max(headroom, h)
	}
	p := base
	want := min(headroom*100/scanned, (heap+headroom)*100/runtimeMinimumHeap)
	if want > int64(p) {
		p = int(want)
	}
	if p != percent {
		debug.SetGCPercent(p)
		percent = p
	}
}
