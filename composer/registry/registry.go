// Package registry maps fragment ids to endpoints: the service registry
// that fragment teams register in.
//
// Data flow:
//
//	source (JSON file, SSM, demo) --[]Raw--> Registry.Update --> Lookup(id) Entry
//
// Update publishes a new snapshot atomically. An entry that does not parse
// is reported and skipped, and the last good copy of it stays in use, so a
// typo by one team never takes another team's fragment off a page.
package registry

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Raw is one entry as a source holds it.
type Raw struct {
	ID   string `json:"id"`
	From string `json:"from"` // where it came from, for messages: a parameter name, "file.json: id"
	Data []byte `json:"data"`
	// File and Line place an entry read from a registry file.
	File string `json:"-"`
	Line int    `json:"-"`
}

// EntryError is an entry that did not parse.
type EntryError struct {
	ID   string
	From string
	File string // the registry file and line, for an entry read from one
	Line int
	Err  error
	// Kept says that the entry's last good value stays in use; false when
	// there is none (the id is unregistered until the entry is fixed).
	Kept bool
}

// Position is where the entry is: "file:line" for a registry file, else
// the source's name for it (a parameter name).
func (e *EntryError) Position() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.From
}

func (e *EntryError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: fragment %q: %v", e.Position(), e.ID, e.Err)
	}
	return fmt.Sprintf("registry entry %s: %v", e.From, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// Registry holds the current entries. It is safe for concurrent use; Lookup
// never blocks on an update.
type Registry struct {
	mu      sync.Mutex // serialises updates
	current atomic.Pointer[snapshot]
}

// snapshot is one published state: the entries and the raw form of each,
// so that what is served can be written out and read back exactly.
type snapshot struct {
	entries map[string]*Entry // shared by every Ref: never changed
	raws    map[string]Raw
	at      time.Time
}

// New returns a registry holding entries (which it takes over); nil gives
// an empty registry that is not yet loaded.
func New(entries map[string]Entry) *Registry {
	r := &Registry{}
	if entries != nil {
		refs := make(map[string]*Entry, len(entries))
		for id, e := range entries {
			refs[id] = &e
		}
		r.current.Store(&snapshot{entries: refs, raws: map[string]Raw{}, at: time.Now()})
	}
	return r
}

// Lookup returns the entry for id.
func (r *Registry) Lookup(id string) (Entry, bool) {
	if e, ok := r.Ref(id); ok {
		return *e, true
	}
	return Entry{}, false
}

// Ref returns the entry for id as the registry holds it, shared by every
// caller: it must never be changed. A page's slots keep it this way
// instead of a copy each.
func (r *Registry) Ref(id string) (*Entry, bool) {
	s := r.current.Load()
	if s == nil {
		return nil, false
	}
	e, ok := s.entries[id]
	return e, ok
}

// Loaded reports whether the registry has been loaded at least once.
func (r *Registry) Loaded() bool { return r.current.Load() != nil }

// LastUpdate is when entries were last published.
func (r *Registry) LastUpdate() time.Time {
	if s := r.current.Load(); s != nil {
		return s.at
	}
	return time.Time{}
}

// IDs lists the registered ids, sorted.
func (r *Registry) IDs() []string {
	s := r.current.Load()
	if s == nil {
		return nil
	}
	ids := make([]string, 0, len(s.entries))
	for id := range s.entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Raws returns the raw form of every entry in use (for entries that came
// through Update), sorted by id: what a snapshot stores.
func (r *Registry) Raws() []Raw {
	s := r.current.Load()
	if s == nil {
		return nil
	}
	out := make([]Raw, 0, len(s.raws))
	for _, raw := range s.raws {
		out = append(out, raw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Update publishes the entries in raws, which replace the current set: ids
// not in raws are dropped. An entry that does not parse keeps its last good
// value (or stays absent) and is returned in the errors.
func (r *Registry) Update(raws []Raw) []*EntryError {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.current.Load()
	if old == nil {
		old = &snapshot{}
	}
	next := &snapshot{entries: make(map[string]*Entry, len(raws)), raws: make(map[string]Raw, len(raws)), at: time.Now()}
	var errs []*EntryError
	for _, raw := range raws {
		e, err := ParseEntry(raw.Data)
		if err != nil {
			ee := &EntryError{ID: raw.ID, From: raw.From, File: raw.File, Line: raw.Line, Err: err}
			errs = append(errs, ee)
			if prev, ok := old.entries[raw.ID]; ok {
				ee.Kept = true
				next.entries[raw.ID] = prev
				if prevRaw, ok := old.raws[raw.ID]; ok {
					next.raws[raw.ID] = prevRaw
				}
			}
			continue
		}
		next.entries[raw.ID] = &e
		next.raws[raw.ID] = raw
	}
	r.current.Store(next)
	return errs
}
