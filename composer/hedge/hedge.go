// Package hedge sends hedged fragment requests: when a fragment's first
// request has not answered its headers after the entry's delay, a second
// one goes to the same endpoint, the first answer wins and the other is
// cancelled ("The Tail at Scale", Dean and Barroso, 2013). One slow answer
// of a fragment then no longer sets the page's last byte.
//
// Order on a fragment request:
//
//	cache --> bulkhead --> breaker --> hedge --> transport (HTTP, Lambda, Step Functions)
//
// The bulkhead and the breaker see one request, the one whose answer the
// page gets: a cancelled loser is neither a success nor a failure. A
// hedge is sent only when the breaker is closed (never beside a half-open
// breaker's probe) and, under a maxConcurrency, with a bulkhead slot of its
// own: Options.Admit asks the breaker layer.
//
// A budget caps the hedges of a fragment version at a share of its
// requests (a credit: each request adds the share, up to a few hedges'
// worth; each hedge spends one), so a fragment that is slow for everyone
// gets at most that share more requests, not twice its load.
//
// An entry opts in ("hedge": "40ms", "auto", or {"delay", "budget"});
// without it a request passes straight through, as do requests without a
// Fragment and override requests. docs/resilience.md states the rules.
package hedge

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// Outcomes of composer_fragment_hedges_total: what became of a request
// still unanswered at the delay.
const (
	Won            = "won"             // the hedge answered first; its answer was used
	Lost           = "lost"            // the first request answered first; the hedge was cancelled
	Failed         = "failed"          // the hedge failed: an error before its headers, or a 5xx
	Canceled       = "canceled"        // the page went away while the hedge was in flight
	SkippedBudget  = "skipped_budget"  // no hedge: the budget was spent
	SkippedBreaker = "skipped_breaker" // no hedge: the breaker was not closed
	SkippedFull    = "skipped_full"    // no hedge: the bulkhead had no slot for it
)

// Outcomes lists every outcome, in the order of the docs.
var Outcomes = []string{Won, Lost, Failed, Canceled, SkippedBudget, SkippedBreaker, SkippedFull}

// Auto delay: the p90 of the last samples times to headers of the
// fragment version's first requests, once there are minSamples.
const (
	samples    = 100
	minSamples = 20
	recompute  = 10 // the p90 is recomputed every this many samples
)

// maxCredit is how many hedges' worth of budget a fragment version can
// save up in a quiet spell: a burst of slow answers can be hedged up to
// this many at once.
const maxCredit = 10

// Resolver finds a fragment's registration (its hedge rule).
type Resolver interface {
	// Ref returns id's entry, shared: hedging never changes it.
	Ref(id string) (*registry.Entry, bool)
}

// Options are what a Transport is built from.
type Options struct {
	// Registry gives each fragment's rule; nil: no hedging.
	Registry Resolver
	// Admit, if set, is asked before each hedge (package breaker's
	// Transport.Admit): it returns a release for what the hedge holds (a
	// bulkhead slot), or an error: breaker.ErrFull for a full bulkhead,
	// any other (breaker.ErrOpen) for a breaker that is not closed.
	Admit func(*fetch.Request) (release func(), err error)
	// Metrics, if set, gets composer_fragment_hedges_total.
	Metrics prometheus.Registerer
}

// Transport hedges the requests of the fragments whose entry asks for it.
type Transport struct {
	next   fetch.Transport
	reg    Resolver
	admit  func(*fetch.Request) (func(), error)
	hedges *prometheus.CounterVec

	mu     sync.RWMutex
	states map[key]*state
}

type key struct{ fragment, version string }

// New returns a Transport in front of next.
func New(next fetch.Transport, o Options) *Transport {
	t := &Transport{next: next, reg: o.Registry, admit: o.Admit, states: map[key]*state{}}
	t.hedges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "composer_fragment_hedges_total",
		Help: "Fragment requests still unanswered at their hedge delay, by fragment id, canary version and outcome: won, lost, failed, canceled (a hedge was sent), skipped_budget, skipped_breaker, skipped_full (none was).",
	}, []string{"fragment", "version", "outcome"})
	if o.Metrics != nil {
		o.Metrics.MustRegister(t.hedges)
	}
	return t
}

// state is one fragment version's: its budget and, for "auto", its recent
// times to headers.
type state struct {
	rule     registry.Hedge
	endpoint string

	mu     sync.Mutex
	credit float64 // hedges that may be sent now
	ring   [samples]time.Duration
	n      int // samples held, up to len(ring)
	next   int // where the next sample goes
	fresh  int // samples since p90 was computed
	p90    time.Duration
}

// stateFor returns the state of req's fragment version, made anew when
// the rule or the version's endpoint changed.
func (t *Transport) stateFor(req *fetch.Request, rule registry.Hedge) *state {
	k := key{req.Fragment, req.Version}
	t.mu.RLock()
	s := t.states[k]
	t.mu.RUnlock()
	if s != nil && s.rule == rule && s.endpoint == req.Endpoint {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s = t.states[k]; s != nil && s.rule == rule && s.endpoint == req.Endpoint {
		return s
	}
	t.prune()
	s = &state{rule: rule, endpoint: req.Endpoint}
	t.states[k] = s
	return s
}

// prune forgets the states and series of fragments and versions no
// longer in the registry, or no longer hedged. t.mu is held.
func (t *Transport) prune() {
	for k := range t.states {
		if entry, ok := t.reg.Ref(k.fragment); ok && entry.Hedge.On() && entry.Serves(k.version) {
			continue
		}
		delete(t.states, k)
		t.hedges.DeletePartialMatch(prometheus.Labels{"fragment": k.fragment, "version": k.version})
	}
}

// request adds one request's share to the budget.
func (s *state) request() {
	s.mu.Lock()
	s.credit = min(s.credit+s.rule.BudgetOrDefault(), maxCredit)
	s.mu.Unlock()
}

// spend takes one hedge from the budget, if it holds one.
func (s *state) spend() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A hair under 1: ten requests at 0.1 add up to 0.9999999999999999.
	if s.credit < 1-1e-9 {
		return false
	}
	s.credit--
	return true
}

// refund gives back a hedge that was not sent.
func (s *state) refund() {
	s.mu.Lock()
	s.credit = min(s.credit+1, maxCredit)
	s.mu.Unlock()
}

// delay is how long a request waits before its hedge; false: not yet
// known ("auto" with too few samples).
func (s *state) delay() (time.Duration, bool) {
	if !s.rule.Auto {
		return s.rule.Delay, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < minSamples {
		return 0, false
	}
	if s.fresh > 0 && (s.fresh >= recompute || s.p90 == 0) {
		held := slices.Clone(s.ring[:s.n])
		slices.Sort(held)
		s.p90 = max(held[(len(held)*9)/10], registry.MinHedgeDelay)
		s.fresh = 0
	}
	return s.p90, true
}

// sample records a first request's time to headers ("auto" only): its
// exact time when it answered, or, when the hedge won, the time it had
// waited then (a lower bound).
func (s *state) sample(d time.Duration) {
	if !s.rule.Auto {
		return
	}
	s.mu.Lock()
	s.ring[s.next] = d
	s.next = (s.next + 1) % samples
	s.n = min(s.n+1, samples)
	s.fresh++
	s.mu.Unlock()
}

// Fetch implements fetch.Transport. A request that is not hedged goes on
// from a small frame: it stays on the fetching goroutine's stack while the
// answer is awaited, a thousand pages of five fragments at once.
func (t *Transport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	if req.Fragment == "" || req.Override || t.reg == nil {
		return t.next.Fetch(ctx, req)
	}
	if rule, ok := t.rule(req.Fragment); ok {
		return t.hedged(ctx, req, rule)
	}
	return t.next.Fetch(ctx, req)
}

// Presend implements fetch.Presender: it sends req ahead through the next
// transport when its Fetch would pass it straight through, and sends
// nothing for a hedged fragment. A hedged request goes on a goroutine of
// its own, with a context of its own, beside perhaps a second one: not
// the request sent ahead. That holds for "auto" too while its delay is
// not yet known, though Fetch then sends req itself: its samples are
// times to headers measured from the Fetch, and a request sent earlier
// would make them short. It changes nothing: no state, no budget.
func (t *Transport) Presend(ctx context.Context, req *fetch.Request) bool {
	if req.Fragment != "" && !req.Override && t.reg != nil {
		if _, ok := t.rule(req.Fragment); ok {
			return false
		}
	}
	return fetch.Presend(t.next, ctx, req)
}

// rule is the fragment's hedging rule, if it is hedged.
func (t *Transport) rule(fragment string) (registry.Hedge, bool) {
	entry, ok := t.reg.Ref(fragment)
	if !ok {
		return registry.Hedge{}, false
	}
	return entry.Hedge, entry.Hedge.On()
}

// hedged is Fetch of a hedged fragment.
func (t *Transport) hedged(ctx context.Context, req *fetch.Request, rule registry.Hedge) (*fetch.Response, error) {
	s := t.stateFor(req, rule)
	s.request()
	delay, ok := s.delay()
	if !ok {
		start := time.Now()
		resp, err := t.next.Fetch(ctx, req)
		if err == nil {
			s.sample(time.Since(start))
		}
		return resp, err
	}
	c := &call{t: t, s: s, req: req, results: make(chan result, 2)}
	return c.run(ctx, delay)
}

// call is one hedged fragment request: its first attempt, and perhaps a
// second.
type call struct {
	t       *Transport
	s       *state
	req     *fetch.Request
	results chan result

	mu      sync.Mutex
	decided bool                  // once set, an attempt that ends disposes of its own answer
	cancels [2]context.CancelFunc // the first attempt's, the hedge's

	release func() // frees the hedge's bulkhead slot; nil until a hedge is sent
	freed   bool
}

// result is one attempt's end.
type result struct {
	hedge  bool
	resp   *fetch.Response
	err    error
	cancel context.CancelFunc
}

// attempt sends req with its own context, derived from the page's, and
// hands its end to run, or, once a winner is chosen, closes its answer.
func (c *call) attempt(ctx context.Context, hedge bool) {
	actx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.cancels[index(hedge)] = cancel
	c.mu.Unlock()
	go func() {
		resp, err := c.t.next.Fetch(actx, c.req)
		c.mu.Lock()
		if !c.decided {
			c.results <- result{hedge: hedge, resp: resp, err: err, cancel: cancel}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.dispose(result{resp: resp, cancel: cancel})
	}()
}

func index(hedge bool) int {
	if hedge {
		return 1
	}
	return 0
}

// dispose ends a loser: its context, its answer, and the second slot.
func (c *call) dispose(r result) {
	r.cancel()
	if r.resp != nil {
		r.resp.Body.Close()
	}
	c.free()
}

// free releases the hedge's bulkhead slot: one request is left.
func (c *call) free() {
	c.mu.Lock()
	release := c.release
	if c.freed || release == nil {
		c.mu.Unlock()
		return
	}
	c.freed = true
	c.mu.Unlock()
	release()
}

func (c *call) count(outcome string) {
	c.t.hedges.WithLabelValues(c.req.Fragment, c.req.Version, outcome).Inc()
}

// run sends the first attempt, a hedge after delay if it has not
// answered, and returns the first answer. A 5xx is held while the other
// request is still in flight: the other's answer wins unless it is a 5xx
// too or fails, so a fast error never beats a good answer on its way.
func (c *call) run(ctx context.Context, delay time.Duration) (*fetch.Response, error) {
	start := time.Now()
	c.attempt(ctx, false)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	inFlight, hedged := 1, false
	hedgeOutcome := "" // what became of the hedge, once known
	var firstErr error
	var held *result // a 5xx waiting for the other request
	for {
		select {
		case <-timer.C:
			if ctx.Err() != nil {
				continue // the page went away: the attempt ends at once
			}
			if c.sendHedge(ctx) {
				hedged = true
				inFlight++
			}
		case r := <-c.results:
			inFlight--
			if r.hedge {
				switch {
				case r.err != nil && ctx.Err() != nil:
					hedgeOutcome = Canceled
				case r.err != nil || r.resp.Status >= 500:
					hedgeOutcome = Failed
				}
			}
			if r.err == nil && r.resp.Status >= 500 && inFlight > 0 {
				held = &r
				continue
			}
			if r.err != nil {
				r.cancel()
				if firstErr == nil || !r.hedge {
					firstErr = r.err // the first request's error is the one told
				}
				if inFlight > 0 {
					c.free() // one request left
					continue
				}
				if held == nil {
					c.finish(-1)
					c.countHedge(hedged, hedgeOutcome, Lost)
					return nil, firstErr
				}
				r = *held // a 5xx is an answer: better than an error
				held = nil
			}
			if held != nil { // r is the other answer: a 5xx too, or better
				if r.resp.Status >= 500 {
					r, *held = *held, r // the first 5xx to come is told
				}
				c.dispose(*held)
				held = nil
			}
			if !r.hedge {
				c.s.sample(time.Since(start))
			} else if ctx.Err() == nil {
				c.s.sample(time.Since(start)) // the first had not answered yet
			}
			won := Lost
			if r.hedge {
				won = Won
			}
			c.countHedge(hedged, hedgeOutcome, won)
			c.finish(index(r.hedge))
			if inFlight == 0 {
				c.free()
			}
			r.resp.Body = &body{ReadCloser: r.resp.Body, cancel: r.cancel}
			return r.resp, nil
		}
	}
}

// countHedge counts what became of a hedge that was sent: its failure or
// cancellation if it had one, else won or lost.
func (c *call) countHedge(hedged bool, failed, answered string) {
	switch {
	case !hedged:
	case failed != "":
		c.count(failed)
	default:
		c.count(answered)
	}
}

// sendHedge sends the second attempt if the breaker, the bulkhead and the
// budget let it, and counts a skip.
func (c *call) sendHedge(ctx context.Context) bool {
	if !c.s.spend() {
		c.count(SkippedBudget)
		return false
	}
	release := func() {}
	if c.t.admit != nil {
		r, err := c.t.admit(c.req)
		if err != nil {
			c.s.refund()
			if errors.Is(err, breaker.ErrFull) {
				c.count(SkippedFull)
			} else {
				c.count(SkippedBreaker)
			}
			return false
		}
		release = r
	}
	c.mu.Lock()
	c.release = release
	c.mu.Unlock()
	c.attempt(ctx, true)
	return true
}

// finish marks the attempt winner (-1: none) chosen: the other is
// cancelled at once, and disposed of when it ends, or now if its answer is
// already waiting.
func (c *call) finish(winner int) {
	c.mu.Lock()
	c.decided = true
	cancels := c.cancels
	c.mu.Unlock()
	for i, cancel := range cancels {
		if i != winner && cancel != nil {
			cancel()
		}
	}
	for {
		select {
		case r := <-c.results:
			c.dispose(r)
		default:
			return
		}
	}
}

// body is the winner's answer: closing it ends its context.
type body struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
