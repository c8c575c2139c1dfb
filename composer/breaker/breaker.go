// Package breaker guards the fragment transports: a circuit breaker and a
// bulkhead per fragment id and canary version, in front of the transport
// and behind the fragment cache.
//
// Order on a fragment request:
//
//	cache (hit: done) --> bulkhead (full: ErrFull) --> breaker (open: ErrOpen) --> transport
//
// A rejected request fails at once, without reaching the fragment: the
// page shows the fallback, or for a required fragment its error page with
// Retry-After. docs/resilience.md states the rules.
//
// Behind the breaker, package hedge may send a second request for a slow
// one: the breaker sees only the one whose answer the page gets, and
// Admit says whether the second may go (closed breaker, a free slot).
//
// The breaker is gobreaker's TwoStepCircuitBreaker: Allow before the
// request, and the verdict once the answer is known, which for a 2xx is at
// the end of its body. gobreaker keeps the state (closed, open, half-open,
// its one probe and openFor); the closed state's rolling window is ours
// (window below), because gobreaker counts a result in the bucket its
// request started in and drops it once that bucket has rolled out, so a
// fragment whose timeout is near or above the window would never open.
// Ours counts each result when it ends, in the bucket of its end. Beside
// that rate rule, a streak of failures (gobreaker's ConsecutiveFailures)
// trips it too, and each failed probe doubles the open time up to a cap: a
// gate of ours (guard.until) holds requests back beyond gobreaker's own
// timeout, which stays the shortest open time. What counts as a failure: an error before the
// answer (a connection error, the deadline), a 5xx, a body that fails or
// is cut before its end. A 4xx or 3xx is an answer, a success. A request
// whose page went away (the browser left, or the page ended for another
// reason) is neither: it is excluded from the counts.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/cow"
	"github.com/ssr-mfe/composer/composer/registry"
)

// The defaults of a breaker whose entry overrides nothing: it opens when at
// least DefaultFailureRate of at least DefaultMinRequests finished requests
// in the last DefaultWindow failed, or after DefaultConsecutiveFailures
// failures in a row, and stays open for DefaultOpenFor; then one probe at a
// time goes to the fragment, and its success closes it. Each probe that
// fails doubles the open time, up to DefaultMaxOpenFor (or openFor, when
// that is longer).
const (
	DefaultFailureRate         = 0.5
	DefaultMinRequests         = 20
	DefaultConsecutiveFailures = 5
	DefaultWindow              = 10 * time.Second
	DefaultOpenFor             = time.Second
	DefaultMaxOpenFor          = 30 * time.Second
)

// buckets is how many slices the rolling window is kept in: it forgets its
// oldest tenth at a time.
const buckets = 10

// ErrOpen is a request the breaker did not let through: it is open, or
// half-open with its probe in flight.
var ErrOpen = errors.New("circuit breaker open: the fragment was not asked")

// ErrFull is a request beyond the entry's maxConcurrency.
var ErrFull = errors.New("bulkhead full: the fragment has maxConcurrency requests in flight")

// RejectedError is a request rejected before the transport. It matches
// ErrOpen or ErrFull with errors.Is.
type RejectedError struct {
	Fragment, Version string
	Err               error // ErrOpen or ErrFull
	// RetryAfter is how long a client should wait before it asks again.
	RetryAfter time.Duration
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("fragment %q version %q: %v", e.Fragment, e.Version, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Resolver finds a fragment's registration (its breaker rule and bulkhead).
type Resolver interface {
	// Ref returns id's entry, shared: the breaker never changes it.
	Ref(id string) (*registry.Entry, bool)
}

// Options are what a Transport is built from.
type Options struct {
	// Registry gives each fragment's overrides; nil: defaults for all.
	Registry Resolver
	// Log, if set, gets one line per change of a breaker's state.
	Log *slog.Logger
	// Metrics, if set, gets composer_fragment_breaker_state.
	Metrics prometheus.Registerer
}

// Transport guards next. A request without a Fragment, or an override,
// passes straight through.
type Transport struct {
	next  fetch.Transport
	reg   Resolver
	log   *slog.Logger
	state *prometheus.GaugeVec

	// guards is read without a lock on every request (package cow).
	guards cow.Map[key, *guard]
}

type key struct{ fragment, version string }

// guard is the state of one fragment version: its breaker (nil when off)
// and its bulkhead.
type guard struct {
	endpoint string
	rule     registry.Breaker
	max      int
	inFlight atomic.Int64
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor  time.Duration

	// until is when the current open spell ends (Unix nanoseconds; 0 when
	// not open): gobreaker's own timeout is the shortest, openFor, and
	// this gate holds the requests back for the rest of a longer spell.
	// Written under the breaker's lock, read without it.
	until atomic.Int64
	// tripped is whether the breaker is open or half-open, as last told
	// by OnStateChange: what Presend reads, which may not ask gobreaker
	// (its State moves an open breaker whose time is up to half-open).
	// Written under the breaker's lock, read without it.
	tripped atomic.Bool
	// spell is the length of the current or last open spell: openFor
	// after a close, doubled by each failed probe, up to the rule's
	// MaxOpenFor. Touched only in gobreaker's callbacks.
	spell time.Duration

	// state, win and counts are touched only by gobreaker's callbacks,
	// all of which run under the breaker's own lock. state is the
	// breaker's state as last told by OnStateChange; win holds the closed
	// state's results, each at its end; counts are those that tripped it,
	// for the log line.
	state  gobreaker.State
	win    window
	counts counts
}

// counts are the finished requests of a window; streak, the failures in
// a row when the breaker opened (for its log line).
type counts struct{ ok, failed, streak int }

// window is a rolling window of buckets: each result is counted in the
// bucket of the moment it is recorded (the request's end), and a bucket is
// forgotten once it is a window old, a tenth of the window at a time.
type window struct {
	period time.Duration // a bucket's length
	start  time.Time     // the start of bucket 0
	age    int64         // the current bucket's number since start
	b      [buckets]counts
	total  counts
}

func newWindow(length time.Duration, now time.Time) window {
	return window{period: max(length/buckets, time.Nanosecond), start: now}
}

// advance moves the window to now, forgetting the buckets that left it.
func (w *window) advance(now time.Time) {
	age := int64(now.Sub(w.start) / w.period)
	if age <= w.age {
		return
	}
	if age-w.age >= buckets {
		w.b, w.total, w.age = [buckets]counts{}, counts{}, age
		return
	}
	for w.age < age {
		w.age++
		old := &w.b[w.age%buckets]
		w.total.ok -= old.ok
		w.total.failed -= old.failed
		*old = counts{}
	}
}

// record counts one finished request at now.
func (w *window) record(now time.Time, ok bool) {
	w.advance(now)
	c := &w.b[w.age%buckets]
	if ok {
		c.ok++
		w.total.ok++
	} else {
		c.failed++
		w.total.failed++
	}
}

// New returns a Transport in front of next.
func New(next fetch.Transport, o Options) *Transport {
	t := &Transport{next: next, reg: o.Registry, log: o.Log}
	t.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "composer_fragment_breaker_state",
		Help: "Circuit breaker state by fragment id and canary version: 0 closed, 1 half-open, 2 open.",
	}, []string{"fragment", "version"})
	if o.Metrics != nil {
		o.Metrics.MustRegister(t.state)
	}
	return t
}

// State is the breaker's state for a fragment version (closed for one that
// has had no request, or whose breaker is off).
func (t *Transport) State(fragment, version string) gobreaker.State {
	g, _ := t.guards.Load(key{fragment, version})
	if g == nil || g.cb == nil {
		return gobreaker.StateClosed
	}
	if g.holding() > 0 {
		return gobreaker.StateOpen
	}
	return g.cb.State()
}

// holding is how much is left of an open spell longer than gobreaker's
// own timeout: while it lasts, no request may go, not even a probe.
func (g *guard) holding() time.Duration {
	until := g.until.Load()
	if until == 0 {
		return 0 // the usual case: no clock read
	}
	return max(0, time.Until(time.Unix(0, until)))
}

// guardFor returns the guard of req's fragment version, made anew when the
// entry's rule, cap or the version's endpoint changed.
func (t *Transport) guardFor(req *fetch.Request) *guard {
	k, entry, g := t.current(req)
	if g != nil {
		return g
	}
	t.guards.Update(func(guards map[key]*guard) map[key]*guard {
		if g = guards[k]; g != nil && g.endpoint == req.Endpoint && g.rule == entry.Breaker && g.max == entry.MaxConcurrency {
			return nil
		}
		next := cow.Clone(guards)
		t.prune(next)
		g = t.newGuard(k, req.Endpoint, entry)
		next[k] = g
		return next
	})
	return g
}

// current returns the guard of req's fragment version if it is up to
// date with the entry, else nil (guardFor would make one anew); it changes
// nothing.
func (t *Transport) current(req *fetch.Request) (key, *registry.Entry, *guard) {
	entry := &noEntry
	if t.reg != nil {
		if e, ok := t.reg.Ref(req.Fragment); ok {
			entry = e
		}
	}
	k := key{req.Fragment, req.Version}
	g, _ := t.guards.Load(k)
	if g != nil && g.endpoint == req.Endpoint && g.rule == entry.Breaker && g.max == entry.MaxConcurrency {
		return k, entry, g
	}
	return k, entry, nil
}

// prune forgets the guards of fragments and versions no longer in the
// registry, and their gauges, so that canary versions coming and going do
// not pile up. It runs only when a guard is made, on the map about to
// replace t.guards, under its writers' lock.
func (t *Transport) prune(guards map[key]*guard) {
	if t.reg == nil {
		return
	}
	for k := range guards {
		if entry, ok := t.reg.Ref(k.fragment); ok && entry.Serves(k.version) {
			continue
		}
		delete(guards, k)
		t.state.DeleteLabelValues(k.fragment, k.version)
	}
}

// noEntry is an unregistered fragment's entry: nothing set.
var noEntry registry.Entry

func (t *Transport) newGuard(k key, endpoint string, entry *registry.Entry) *guard {
	g := &guard{endpoint: endpoint, rule: entry.Breaker, max: entry.MaxConcurrency}
	// A fresh series: the replaced guard's breaker, whose requests may
	// still end, keeps the old one, now out of the registry. A fragment
	// without a breaker exports none ("closed" would claim one).
	t.state.DeleteLabelValues(k.fragment, k.version)
	if entry.Breaker.Off {
		return g
	}
	gauge := t.state.WithLabelValues(k.fragment, k.version)
	gauge.Set(float64(gobreaker.StateClosed))
	rule := withDefaults(entry.Breaker)
	g.openFor = rule.OpenFor
	g.spell = rule.OpenFor
	g.win = newWindow(rule.Window, time.Now())
	g.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        k.fragment + "@" + k.version,
		MaxRequests: 1, // half-open: one probe at a time, and its success closes
		// No Interval: gobreaker never clears its own counts while closed,
		// so a result of the current generation (the state its request
		// started in has not changed since) always reaches the callbacks
		// below, however long the request took. The window is g.win.
		Timeout: rule.OpenFor,
		// IsSuccessful sees every result of the current generation that is
		// not excluded, after gobreaker has brought its state up to date:
		// a closed-state result is recorded here, at its end.
		IsSuccessful: func(err error) bool {
			ok := err == nil
			if g.state == gobreaker.StateClosed {
				g.win.record(time.Now(), ok)
			}
			return ok
		},
		// ReadyToTrip runs on each closed-state failure, just recorded.
		// gobreaker's own counts are of the closed state (no Interval):
		// their ConsecutiveFailures is the streak since the last success.
		ReadyToTrip: func(gc gobreaker.Counts) bool {
			g.win.advance(time.Now())
			c := g.win.total
			finished := c.ok + c.failed
			streak := int(gc.ConsecutiveFailures) >= rule.ConsecutiveFailures
			if !streak && (finished < rule.MinRequests || float64(c.failed) < rule.FailureRate*float64(finished)) {
				return false
			}
			g.counts = c
			g.counts.streak = int(gc.ConsecutiveFailures)
			return true
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			now := time.Now()
			g.state = to
			g.tripped.Store(to != gobreaker.StateClosed)
			g.win = newWindow(rule.Window, now) // each state starts afresh
			switch to {
			case gobreaker.StateOpen:
				// Open again without a success in between (a failed
				// probe): for twice as long, up to the cap.
				if from == gobreaker.StateHalfOpen {
					g.spell = min(2*g.spell, rule.MaxOpenFor)
				}
				g.until.Store(now.Add(g.spell).UnixNano())
			case gobreaker.StateClosed:
				g.spell = rule.OpenFor
				g.until.Store(0)
			default:
				g.until.Store(0)
			}
			gauge.Set(float64(to))
			t.logChange(k, from, to, g.counts, rule, g.spell)
		},
	})
	return g
}

// logChange writes one line for a change of state. Opening from closed
// is a warning; closing is news; the open and half-open cycle of a
// fragment that stays down (once per openFor) is debug, as the gauge shows
// it.
func (t *Transport) logChange(k key, from, to gobreaker.State, c counts, rule registry.Breaker, spell time.Duration) {
	if t.log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("fragment", k.fragment), slog.String("version", k.version),
		slog.String("from", from.String()), slog.String("to", to.String())}
	level, msg := slog.LevelDebug, "circuit breaker "+to.String()
	switch {
	case from == gobreaker.StateClosed && to == gobreaker.StateOpen:
		level, msg = slog.LevelWarn, "circuit breaker opened: the fragment is not asked; pages show its fallback"
		attrs = append(attrs, slog.Int("failures", c.failed), slog.Int("requests", c.failed+c.ok),
			slog.Int("consecutive_failures", c.streak),
			slog.Int64("window_ms", rule.Window.Milliseconds()), slog.Int64("open_for_ms", spell.Milliseconds()))
	case to == gobreaker.StateClosed:
		level, msg = slog.LevelInfo, "circuit breaker closed: the probe succeeded"
	case from == gobreaker.StateHalfOpen && to == gobreaker.StateOpen:
		msg = "circuit breaker open again: the probe failed"
		attrs = append(attrs, slog.Int64("open_for_ms", spell.Milliseconds()))
	}
	t.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// withDefaults fills a rule's zero fields.
func withDefaults(r registry.Breaker) registry.Breaker {
	if r.FailureRate <= 0 {
		r.FailureRate = DefaultFailureRate
	}
	if r.MinRequests <= 0 {
		r.MinRequests = DefaultMinRequests
	}
	if r.Window <= 0 {
		r.Window = DefaultWindow
	}
	if r.OpenFor <= 0 {
		r.OpenFor = DefaultOpenFor
	}
	if r.ConsecutiveFailures <= 0 {
		r.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if r.MaxOpenFor <= 0 {
		r.MaxOpenFor = DefaultMaxOpenFor
	}
	r.MaxOpenFor = max(r.MaxOpenFor, r.OpenFor)
	return r
}

// Verdicts passed to gobreaker's done callback: nil is a success.
var (
	errExcluded = errors.New("the page went away: neither success nor failure")
	errFailed   = errors.New("fragment request failed")
)

// verdict judges a request that ended with err (not io.EOF) while ctx was
// its context: excluded if the page went away, else a failure. A context
// cancelled with the cause context.DeadlineExceeded is the fragment's
// deadline (package stream's, which counts only the composer's waiting on
// the fragment), not a page gone.
func verdict(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return errExcluded
	}
	return errFailed
}

// retryAfter rounds d up to whole seconds, at least one.
func retryAfter(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}

// Fetch implements fetch.Transport. A request without a Fragment, or an
// override (fetch.Request.Override: one visitor's endpoint, not the
// fragment's), passes straight through: no bulkhead slot, no verdict.
func (t *Transport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	if req.Fragment == "" || req.Override {
		return t.next.Fetch(ctx, req)
	}
	g := t.guardFor(req)
	if g.max > 0 && g.inFlight.Add(1) > int64(g.max) {
		g.inFlight.Add(-1)
		return nil, &RejectedError{Fragment: req.Fragment, Version: req.Version, Err: ErrFull, RetryAfter: time.Second}
	}
	b := &body{ctx: ctx, g: g}
	if g.cb != nil {
		if left := g.holding(); left > 0 {
			b.release()
			return nil, &RejectedError{Fragment: req.Fragment, Version: req.Version, Err: ErrOpen, RetryAfter: retryAfter(left)}
		}
		done, err := g.cb.Allow()
		if err != nil {
			b.release()
			return nil, &RejectedError{Fragment: req.Fragment, Version: req.Version, Err: ErrOpen, RetryAfter: retryAfter(g.openFor)}
		}
		b.done = done
	}
	resp, err := t.next.Fetch(ctx, req)
	if err != nil {
		b.finish(verdict(ctx))
		return nil, err
	}
	switch {
	case resp.Status >= 500:
		b.judge(errFailed)
	case resp.Status < 200 || resp.Status > 299:
		b.judge(nil) // an answer: a 4xx is the fragment's, and so is a redirect
	}
	b.ReadCloser = resp.Body
	resp.Body = b
	return resp, nil
}

// Presend implements fetch.Presender: it sends req ahead through the next
// transport unless its Fetch would reject it, which it tells from what it
// reads: a full bulkhead, or a breaker not closed (open, or half-open: a
// probe is Fetch's to admit). A request without a Fragment, or an
// override, passes through as in Fetch. It takes no slot and asks
// gobreaker nothing: the slot, the admission and the verdict are the
// Fetch's that follows, which may still reject a request sent ahead (the
// page then releases it).
func (t *Transport) Presend(ctx context.Context, req *fetch.Request) bool {
	if req.Fragment != "" && !req.Override {
		// No guard yet, or one out of date: Fetch makes a fresh one, which
		// admits.
		if _, _, g := t.current(req); g != nil && !g.admits() {
			return false
		}
	}
	return fetch.Presend(t.next, ctx, req)
}

// admits reports whether a request would most likely pass the bulkhead and
// the breaker now. It reads and changes nothing.
func (g *guard) admits() bool {
	if g.max > 0 && g.inFlight.Load() >= int64(g.max) {
		return false
	}
	return g.cb == nil || g.holding() == 0 && !g.tripped.Load()
}

// Admit lets a second request to req's fragment version go beside the
// one this Transport is serving (a hedge, package hedge), the breaker and
// the bulkhead seeing only the first: only while the breaker is closed
// (never beside a half-open breaker's probe), and under a maxConcurrency
// with a slot of its own, which release frees. It fails with ErrOpen or
// ErrFull, and counts nothing.
func (t *Transport) Admit(req *fetch.Request) (release func(), err error) {
	g := t.guardFor(req)
	if g.cb != nil && (g.holding() > 0 || g.cb.State() != gobreaker.StateClosed) {
		return nil, ErrOpen
	}
	if g.max <= 0 {
		return func() {}, nil
	}
	if g.inFlight.Add(1) > int64(g.max) {
		g.inFlight.Add(-1)
		return nil, ErrFull
	}
	var once sync.Once
	return func() { once.Do(func() { g.inFlight.Add(-1) }) }, nil
}

// body judges a 2xx answer at its end and frees its bulkhead slot.
// Its reader is the fetching goroutine alone.
type body struct {
	io.ReadCloser
	ctx      context.Context
	g        *guard
	done     func(error) // nil once judged
	released bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.finish(nil)
	case err != nil:
		b.finish(verdict(b.ctx))
	}
	return n, err
}

// Close before the end is a cut body: a failure, unless the page went away.
func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.finish(verdict(b.ctx))
	return err
}

// judge gives the breaker its verdict, once.
func (b *body) judge(v error) {
	if b.done != nil {
		b.done(v)
		b.done = nil
	}
}

func (b *body) release() {
	if !b.released {
		b.released = true
		if b.g.max > 0 {
			b.g.inFlight.Add(-1)
		}
	}
}

// finish judges (if not yet) and frees the slot.
func (b *body) finish(v error) {
	b.judge(v)
	b.release()
}
