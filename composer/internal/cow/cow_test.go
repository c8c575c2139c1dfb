package cow

import (
	"testing"
	"time"
)

// A value made once is read without a lock and without an allocation,
// while a write holds the lock; a write that publishes nothing leaves the
// map as it was; a map published is never changed.
func TestAMapIsReadWithoutItsWritersLock(t *testing.T) {
	var m Map[string, int]
	if _, ok := m.Load("a"); ok {
		t.Fatal("the zero Map holds a")
	}
	made := 0
	for range 3 {
		if v := m.LoadOrMake("a", func() int { made++; return 1 }); v != 1 {
			t.Fatalf("a = %d", v)
		}
	}
	if made != 1 {
		t.Errorf("made %d times, want once", made)
	}
	first := *m.m.Load()
	m.Update(func(old map[string]int) map[string]int { next := Clone(old); next["b"] = 2; return next })
	m.Update(func(map[string]int) map[string]int { return nil })
	if _, ok := first["b"]; ok {
		t.Error("a published map was changed")
	}
	if v, ok := m.Load("b"); !ok || v != 2 {
		t.Errorf("b = %d %v", v, ok)
	}
	release := m.Hold()
	done := make(chan float64)
	go func() { done <- testing.AllocsPerRun(10, func() { m.Load("a") }) }()
	select {
	case allocs := <-done:
		if allocs != 0 {
			t.Errorf("%v allocations a read", allocs)
		}
	case <-time.After(20 * time.Second): // a bound, not a claim
		t.Fatal("a read waited for the writers' lock")
	}
	release()
}
