package stream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A clock is the Ender of its context (fetch.Waits): what it is given
// runs once, when the clock ends, after its context has ended with the
// cause the read's error will give; at once when it has ended already
// (its parent's end included, before the page has told the clock); never
// once taken back.
func TestAClockRunsItsCutWhenItEnds(t *testing.T) {
	t.Parallel()
	wait := func(t *testing.T, ran chan error) error {
		t.Helper()
		select {
		case err := <-ran:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("the cut never ran")
			return nil
		}
	}

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), 20*time.Millisecond, false)
		ran := make(chan error, 1)
		k.AfterEnd(func() { ran <- context.Cause(ctx) })
		if err := wait(t, ran); err != context.DeadlineExceeded {
			t.Errorf("cause when the cut ran: %v, want the deadline", err)
		}
	})

	t.Run("taken back", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		k.start(context.Background(), time.Hour, false)
		var runs atomic.Int32
		stop := k.AfterEnd(func() { runs.Add(1) })
		if !stop.Stop() {
			t.Error("stop of a cut that had not run: false")
		}
		if stop.Stop() {
			t.Error("a second stop: true")
		}
		k.stop()
		if n := runs.Load(); n != 0 {
			t.Errorf("a cut taken back ran %d times", n)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), time.Hour, false)
		ran := make(chan error, 1)
		stop := k.AfterEnd(func() { ran <- ctx.Err() })
		k.stop()
		if err := wait(t, ran); err == nil {
			t.Error("the cut ran before the context ended")
		}
		if stop.Stop() {
			t.Error("stop after the cut ran: true")
		}
	})

	t.Run("ended already", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		k.start(context.Background(), 0, false)
		ran := make(chan error, 1)
		if stop := k.AfterEnd(func() { ran <- nil }); stop.Stop() {
			t.Error("stop of a cut given after the end: true")
		}
		wait(t, ran)
	})

	t.Run("parent ended first", func(t *testing.T) {
		t.Parallel()
		parent, cancel := context.WithCancel(context.Background())
		k := new(clock)
		k.start(parent, time.Hour, false)
		cancel() // and the page has not told the clock yet
		ran := make(chan error, 1)
		k.AfterEnd(func() { ran <- nil })
		wait(t, ran)
	})

	t.Run("a second read at once", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), time.Hour, false)
		first, second := make(chan error, 1), make(chan error, 1)
		k.AfterEnd(func() { first <- ctx.Err() })
		k.AfterEnd(func() { second <- ctx.Err() })
		k.stop()
		wait(t, first)
		wait(t, second)
	})
}

// A lazy clock (an inline fetch's) has no timer until a read is about to
// wait: an answer already there costs none. It still keeps the deadline:
// armed, it ends with it; paused after its time ran out without a wait,
// it ends then; armed after its time ran out, it ends at once; paused
// and resumed, it keeps what was left.
func TestALazyClockArmsOnlyToWait(t *testing.T) {
	t.Parallel()
	t.Run("no wait, no timer", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), time.Hour, true)
		k.pause()
		k.resume()
		k.pause()
		if k.timer != nil {
			t.Error("a clock that never waited made a timer")
		}
		if ctx.Err() != nil {
			t.Error("the clock ended with time left")
		}
		k.stop()
	})
	t.Run("armed, it ends with its deadline", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), 30*time.Millisecond, true)
		k.arm()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("an armed clock never ended")
		}
		if err := context.Cause(ctx); err != context.DeadlineExceeded {
			t.Errorf("cause %v, want the deadline", err)
		}
	})
	for _, c := range []struct {
		name string
		end  func(*clock) // the step that finds the time gone
	}{
		{"ran out unarmed: the pause ends it", (*clock).pause},
		{"ran out unarmed: arming ends it", (*clock).arm},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k := new(clock)
			ctx := k.start(context.Background(), time.Millisecond, true)
			time.Sleep(5 * time.Millisecond)
			if ctx.Err() != nil {
				t.Fatal("an unarmed clock ended on its own")
			}
			ran := make(chan struct{}, 1)
			k.AfterEnd(func() { ran <- struct{}{} })
			c.end(k)
			if err := context.Cause(ctx); err != context.DeadlineExceeded {
				t.Errorf("cause %v, want the deadline", err)
			}
			select {
			case <-ran:
			default:
				t.Error("the read's cut did not run")
			}
		})
	}
	t.Run("paused, it keeps what was left", func(t *testing.T) {
		t.Parallel()
		k := new(clock)
		ctx := k.start(context.Background(), 80*time.Millisecond, true)
		k.arm()
		k.pause()
		time.Sleep(150 * time.Millisecond) // the page busy elsewhere
		if ctx.Err() != nil {
			t.Fatal("a paused clock ended")
		}
		k.resume()
		k.arm()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the resumed clock never ended")
		}
	})
}

// A page's read registers its cut on the fragment's clock and takes it
// back once the body ends, for every fragment of every page: neither costs
// an allocation (the clock is its registration's Stopper).
func TestARegistrationOnAClockCostsNoAllocation(t *testing.T) {
	const runs = 100
	clocks := make([]clock, runs+1) // AllocsPerRun runs once more than it counts
	for i := range clocks {
		clocks[i].start(context.Background(), time.Minute, true)
	}
	cut := func() {}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		k := &clocks[i]
		i++
		if !k.AfterEnd(cut).Stop() {
			t.Error("the registration was not there to stop")
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations a registration and its stop, want 0", allocs)
	}
	for i := range clocks {
		clocks[i].stop()
	}
}
