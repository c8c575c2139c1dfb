package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// afterCycles runs collections until the pacer has seen n more, and
// returns the heap goal and the live heap then.
func afterCycles(t *testing.T, n int) (goal, live uint64) {
	t.Helper()
	mu.Lock()
	want := adjusts + n
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		mu.Lock()
		done := adjusts >= want
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pacer saw no collection in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func gogc() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestASmallLiveHeapGetsTheHeadroom(t *testing.T) {
	const headroom = 48 << 20
	stop := Start(headroom)
	goal, live := afterCycles(t, 2)
	if live > 16<<20 {
		t.Skipf("the test process has %d MB live: too much to tell", live>>20)
	}
	if goal < live+headroom-headroom/32 { // GOGC is a whole percent
		t.Errorf("heap goal %d MB with %d MB live, want at least live + %d MB", goal>>20, live>>20, headroom>>20)
	}
	stop()
	if p := gogc(); p != 100 {
		t.Errorf("GOGC %d after the last stop, want 100 back", p)
	}
}

var kept [][]byte

func TestALargeLiveHeapKeepsGOGC(t *testing.T) {
	for range 96 {
		kept = append(kept, make([]byte, 1<<20))
	}
	defer func() { kept = nil }()
	stop := Start(16 << 20)
	defer stop()
	goal, live := afterCycles(t, 2)
	if p := gogc(); p != 100 {
		t.Errorf("GOGC %d with %d MB live and 16 MB of headroom, want 100", p, live>>20)
	}
	if goal > 2*live+8<<20 {
		t.Errorf("heap goal %d MB with %d MB live, want about twice the live heap", goal>>20, live>>20)
	}
}

func TestTheLargestHeadroomAppliesUntilItsStop(t *testing.T) {
	stopSmall := Start(8 << 20)
	stopLarge := Start(64 << 20)
	goal, live := afterCycles(t, 2)
	if live > 16<<20 {
		t.Skipf("the test process has %d MB live: too much to tell", live>>20)
	}
	if goal < live+62<<20 {
		t.Errorf("heap goal %d MB with two pacers (8 and 64 MB), want at least live + 64 MB", goal>>20)
	}
	stopLarge()
	stopLarge() // a second call does nothing
	goal, live = afterCycles(t, 2)
	if goal >= live+62<<20 || goal < live+7<<20 {
		t.Errorf("heap goal %d MB with %d MB live after the larger stopped, want live + 8 MB or so", goal>>20, live>>20)
	}
	stopSmall()
	if p := gogc(); p != 100 {
		t.Errorf("GOGC %d after the last stop, want 100 back", p)
	}
}

func TestGOGCOffIsLeftAlone(t *testing.T) {
	debug.SetGCPercent(-1)
	defer debug.SetGCPercent(100)
	stop := Start(32 << 20)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GOGC %d after Start with the collector off, want it left off", p)
	}
	stop()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GOGC %d after stop with the collector off, want it left off", p)
	}
}

func TestNoHeadroomDoesNothing(t *testing.T) {
	stop := Start(0)
	defer stop()
	if p := gogc(); p != 100 {
		t.Errorf("GOGC %d, want 100", p)
	}
}

func TestAHugeHeadroomStillRaisesGOGC(t *testing.T) {
	stop := Start(1 << 62)
	defer stop()
	afterCycles(t, 1)
	if p := gogc(); p <= 100 {
		t.Errorf("GOGC %d with a headroom of 2^62 bytes, want it raised", p)
	}
}
