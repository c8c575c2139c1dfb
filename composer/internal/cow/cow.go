// Package cow is a map read without a lock: read on every request, on
// every core, where a shared lock's count would move between the cores
// on each read, and written rarely (a breaker's guard made, a metric's
// series found for the first time). A map published is never changed;
// a write changes a copy, under the writers' lock, and publishes it.
package cow

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Map is a copy-on-write map. The zero value is an empty map.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// Load returns k's value: a read of the map published last, no lock.
func (c *Map[K, V]) Load(k K) (v V, ok bool) {
	if m := c.m.Load(); m != nil {
		v, ok = (*m)[k]
	}
	return v, ok
}

// Update calls f with the map published last, under the writers' lock.
// f returns the map to publish: nil to publish nothing, or a copy it
// changed (Clone's): the map it was given is never changed.
func (c *Map[K, V]) Update(f func(m map[K]V) map[K]V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m map[K]V
	if p := c.m.Load(); p != nil {
		m = *p
	}
	if next := f(m); next != nil {
		c.m.Store(&next)
	}
}

// Clone is m's copy for Update to change (nil m: an empty map).
func Clone[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return maps.Clone(m)
}

// LoadOrMake returns k's value, made by build and published the first
// time. build runs under the writers' lock, at most once for k.
func (c *Map[K, V]) LoadOrMake(k K, build func() V) V {
	if v, ok := c.Load(k); ok {
		return v
	}
	var v V
	c.Update(func(m map[K]V) map[K]V {
		var ok bool
		if v, ok = m[k]; ok {
			return nil
		}
		v = build()
		next := Clone(m)
		next[k] = v
		return next
	})
	return v
}

// Hold holds the writers' lock, as a write in progress does, until
// release is called: for tests of what must not wait for a write.
func (c *Map[K, V]) Hold() (release func()) {
	c.mu.Lock()
	return c.mu.Unlock
}
