package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
)

// safety bounds how long a test waits for something that must happen. It
// is never a timing claim.
const safety = 20 * time.Second

// server is a real fragment server on loopback that counts the requests
// reaching it and answers with whatever handler is current.
type server struct {
	URL     string
	hits    atomic.Int64
	handler atomic.Pointer[http.HandlerFunc]
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.set(h)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		(*s.handler.Load())(w, r)
	}))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

func (s *server) set(h http.HandlerFunc) { s.handler.Store(&h) }

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<p>fragment</p>") }

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// hold answers nothing until the request's context ends or release is
// closed; then it writes a body.
func hold(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			io.WriteString(w, "<p>late</p>")
		case <-r.Context().Done():
		}
	}
}

// stall sends the header and half a body, then stalls until the request's
// context ends.
func stall(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "<p>half")
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

type env struct {
	t   *testing.T
	tr  *breaker.Transport
	reg *registry.Registry
	log *logbuf.Buffer
	m   *prometheus.Registry
}

func newEnv(t *testing.T, entries map[string]registry.Entry) *env {
	t.Helper()
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	e := &env{t: t, reg: registry.New(entries), log: &logbuf.Buffer{}, m: prometheus.NewRegistry()}
	e.tr = breaker.New(&fetch.Mux{HTTP: h, Override: h}, breaker.Options{
		Registry: e.reg,
		Log:      slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  e.m,
	})
	return e
}

// get fetches one fragment as a page does, with its own deadline, reads the
// body to its end and closes it. It returns why it failed, if it did.
func (e *env) get(ctx context.Context, id, version, endpoint string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := e.tr.Fetch(ctx, &fetch.Request{Endpoint: endpoint, Fragment: id, Version: version, Header: http.Header{}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.Status, err
}

// getN fetches n times, one after the other.
func (e *env) getN(n int, id, version, endpoint string, timeout time.Duration) {
	for range n {
		_, _ = e.get(context.Background(), id, version, endpoint, timeout)
	}
}

func (e *env) wantState(id, version string, want gobreaker.State) {
	e.t.Helper()
	if got := e.tr.State(id, version); got != want {
		e.t.Fatalf("%s@%s: breaker %s, want %s", id, version, got, want)
	}
}

// waitState polls until the breaker reaches want (the open state turns
// half-open once openFor has passed, at the next look).
func (e *env) waitState(id, version string, want gobreaker.State) {
	e.t.Helper()
	deadline := time.Now().Add(safety)
	for e.tr.State(id, version) != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s@%s: breaker never became %s", id, version, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitHits(t *testing.T, s *server, n int64) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for s.hits.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the fragment server got %d requests, want %d", s.hits.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenBreakerDoesNotAskTheFragment(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"reviews": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	e.getN(breaker.DefaultConsecutiveFailures, "reviews", "", s.URL, safety)
	e.wantState("reviews", "", gobreaker.StateOpen)
	for range 50 {
		_, err := e.get(context.Background(), "reviews", "", s.URL, safety)
		var rej *breaker.RejectedError
		if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &rej) || rej.RetryAfter < time.Second {
			t.Fatalf("error %v, want a RejectedError for ErrOpen with RetryAfter of at least 1s", err)
		}
	}
	if got := s.hits.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Errorf("the fragment got %d requests, want %d: none while open", got, breaker.DefaultConsecutiveFailures)
	}
}

func TestVolumeAndRateRule(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	failing := newServer(t, status(503))
	// The consecutive-failures trip aside (TestConsecutiveFailuresTrip).
	rule := registry.Breaker{ConsecutiveFailures: 1_000_000}
	e := newEnv(t, map[string]registry.Entry{"a": {Endpoint: failing.URL, Breaker: rule}, "b": {Endpoint: s.URL, Breaker: rule}})
	// Volume: 19 failures of 19 requests is not enough.
	e.getN(breaker.DefaultMinRequests-1, "a", "", failing.URL, safety)
	e.wantState("a", "", gobreaker.StateClosed)
	e.getN(1, "a", "", failing.URL, safety)
	e.wantState("a", "", gobreaker.StateOpen)

	// Rate: 9 of 20, then 10 of 21 stay closed; 11 of 22 is 50 %.
	e.getN(11, "b", "", s.URL, safety)
	s.set(status(503))
	e.getN(9, "b", "", s.URL, safety)
	e.wantState("b", "", gobreaker.StateClosed)
	e.getN(1, "b", "", s.URL, safety)
	e.wantState("b", "", gobreaker.StateClosed)
	e.getN(1, "b", "", s.URL, safety)
	e.wantState("b", "", gobreaker.StateOpen)
}

func TestHalfOpenSendsOneProbe(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: 100 * time.Millisecond}}})
	e.getN(breaker.DefaultMinRequests, "nav", "", s.URL, safety)
	e.wantState("nav", "", gobreaker.StateOpen)
	e.waitState("nav", "", gobreaker.StateHalfOpen)

	// Ten pages at once: one probe reaches the fragment, which holds it;
	// the nine others are rejected without asking.
	release := make(chan struct{})
	s.set(hold(release))
	before := s.hits.Load()
	var wg sync.WaitGroup
	var rejected atomic.Int64
	probeDone := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := e.get(context.Background(), "nav", "", s.URL, safety)
			if errors.Is(err, breaker.ErrOpen) {
				rejected.Add(1)
				return
			}
			probeDone <- err
		})
	}
	waitHits(t, s, before+1)
	deadline := time.Now().Add(safety)
	for rejected.Load() < 9 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := s.hits.Load() - before; got != 1 || rejected.Load() != 9 {
		t.Fatalf("half-open: %d requests reached the fragment and %d were rejected, want 1 and 9", got, rejected.Load())
	}
	close(release)
	wg.Wait()
	if err := <-probeDone; err != nil {
		t.Fatalf("probe: %v", err)
	}
	e.wantState("nav", "", gobreaker.StateClosed)
	s.set(ok)
	before = s.hits.Load()
	e.getN(5, "nav", "", s.URL, safety)
	if got := s.hits.Load() - before; got != 5 {
		t.Errorf("closed again: %d of 5 requests reached the fragment", got)
	}
}

func TestFailedProbeOpensAgain(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: 100 * time.Millisecond}}})
	e.getN(breaker.DefaultMinRequests, "nav", "", s.URL, safety)
	e.waitState("nav", "", gobreaker.StateHalfOpen)
	before := s.hits.Load()
	e.getN(1, "nav", "", s.URL, safety) // the probe: a 500
	e.wantState("nav", "", gobreaker.StateOpen)
	e.getN(20, "nav", "", s.URL, safety)
	// Twenty more within openFor would be rejected; on a slow machine openFor may
	// pass in between, and then one more probe (at most one per openFor) goes.
	if got := s.hits.Load() - before; got < 1 || got > 2 {
		t.Errorf("%d requests reached the fragment after its probe failed, want 1 (or 2 if openFor passed)", got)
	}
}

func TestClientErrorsDoNotTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(404))
	e := newEnv(t, map[string]registry.Entry{"search": {Endpoint: s.URL}})
	e.getN(100, "search", "", s.URL, safety)
	e.wantState("search", "", gobreaker.StateClosed)
	if got := s.hits.Load(); got != 100 {
		t.Errorf("%d of 100 requests reached the fragment", got)
	}
}

// A page that goes away (the browser left) cancels its fragment requests,
// before the answer or mid-body: neither counts. A body that stalls until
// the fragment's deadline cuts it does.
func TestPageGoneDoesNotCountAStalledBodyDoes(t *testing.T) {
	t.Parallel()
	never := make(chan struct{})
	waiting := newServer(t, hold(never))
	stalling := newServer(t, stall)
	e := newEnv(t, map[string]registry.Entry{"w": {Endpoint: waiting.URL}, "s": {Endpoint: stalling.URL}})
	cancelAfterHit := func(s *server, id string) {
		ctx, cancel := context.WithCancel(context.Background())
		n := s.hits.Load()
		go func() {
			waitHits(t, s, n+1)
			time.Sleep(time.Millisecond) // let the stalling server's half body arrive
			cancel()
		}()
		_, err := e.get(ctx, id, "", s.URL, safety)
		if err == nil {
			t.Errorf("%s: a cancelled request succeeded", id)
		}
	}
	for range 3 * breaker.DefaultMinRequests {
		cancelAfterHit(waiting, "w")
		cancelAfterHit(stalling, "s")
	}
	e.wantState("w", "", gobreaker.StateClosed)
	e.wantState("s", "", gobreaker.StateClosed)

	// The same stalling body cut by its deadline is a failure.
	for range breaker.DefaultMinRequests {
		if _, err := e.get(context.Background(), "s", "", stalling.URL, 20*time.Millisecond); err == nil {
			t.Fatal("a stalled body was read to its end")
		}
	}
	e.wantState("s", "", gobreaker.StateOpen)
}

func TestVersionsHaveTheirOwnBreaker(t *testing.T) {
	t.Parallel()
	stable := newServer(t, ok)
	canary := newServer(t, status(502))
	// Open for longer than a starved machine takes to send the 60 requests
	// below (the default 1 s let a probe through under -race and load).
	e := newEnv(t, map[string]registry.Entry{"cart": {Endpoint: stable.URL,
		Breaker:  registry.Breaker{OpenFor: time.Minute, MaxOpenFor: time.Minute},
		Versions: []registry.Version{{Name: "v2", Endpoint: canary.URL, Weight: 10}}}})
	e.getN(breaker.DefaultConsecutiveFailures, "cart", "v2", canary.URL, safety)
	e.getN(breaker.DefaultMinRequests, "cart", "default", stable.URL, safety)
	e.wantState("cart", "v2", gobreaker.StateOpen)
	e.wantState("cart", "default", gobreaker.StateClosed)
	e.getN(30, "cart", "default", stable.URL, safety)
	e.getN(30, "cart", "v2", canary.URL, safety)
	if got := stable.hits.Load(); got != 50 {
		t.Errorf("the default version got %d of 50 requests", got)
	}
	if got := canary.hits.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Errorf("the open canary got %d requests, want %d", got, breaker.DefaultConsecutiveFailures)
	}
	if got := testutil.ToFloat64(stateGauge(t, e, "cart", "v2")); got != 2 {
		t.Errorf("composer_fragment_breaker_state{cart,v2} = %v, want 2 (open)", got)
	}
	if got := testutil.ToFloat64(stateGauge(t, e, "cart", "default")); got != 0 {
		t.Errorf("composer_fragment_breaker_state{cart,default} = %v, want 0 (closed)", got)
	}
}

func TestBulkheadRejectsBeyondTheCap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newServer(t, hold(release))
	e := newEnv(t, map[string]registry.Entry{"recs": {Endpoint: s.URL, MaxConcurrency: 2}})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := e.get(context.Background(), "recs", "", s.URL, safety); err != nil {
				t.Errorf("within the cap: %v", err)
			}
		})
	}
	waitHits(t, s, 2)
	for range 10 {
		_, err := e.get(context.Background(), "recs", "", s.URL, safety)
		var rej *breaker.RejectedError
		if !errors.Is(err, breaker.ErrFull) || !errors.As(err, &rej) || rej.RetryAfter < time.Second {
			t.Fatalf("beyond the cap: error %v, want a RejectedError for ErrFull", err)
		}
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("the fragment got %d requests, want the 2 within the cap", got)
	}
	close(release)
	wg.Wait()
	e.getN(5, "recs", "", s.URL, safety)
	if got := s.hits.Load(); got != 7 {
		t.Errorf("after the slots were freed: %d requests, want 7", got)
	}
	e.wantState("recs", "", gobreaker.StateClosed) // rejections are not failures
}

func TestBreakerOff(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"legacy": {Endpoint: s.URL, Breaker: registry.Breaker{Off: true}}})
	e.getN(100, "legacy", "", s.URL, safety)
	if got := s.hits.Load(); got != 100 {
		t.Errorf("%d of 100 requests reached a fragment whose breaker is off", got)
	}
}

// Every change of state is logged once and shown by the gauge; a change of
// the entry's rule starts a fresh breaker.
func TestStateChangesAreLoggedOnce(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"hdr": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: 100 * time.Millisecond}}})
	e.getN(breaker.DefaultMinRequests+10, "hdr", "", s.URL, safety)
	if got := testutil.ToFloat64(stateGauge(t, e, "hdr", "")); got != 2 {
		t.Errorf("gauge %v after tripping, want 2", got)
	}
	e.waitState("hdr", "", gobreaker.StateHalfOpen)
	if got := testutil.ToFloat64(stateGauge(t, e, "hdr", "")); got != 1 {
		t.Errorf("gauge %v when half-open, want 1", got)
	}
	s.set(ok)
	e.getN(10, "hdr", "", s.URL, safety)
	if got := testutil.ToFloat64(stateGauge(t, e, "hdr", "")); got != 0 {
		t.Errorf("gauge %v after the probe succeeded, want 0", got)
	}
	logs := e.log.String()
	for _, msg := range []string{"circuit breaker opened", "circuit breaker half-open", "circuit breaker closed"} {
		if n := strings.Count(logs, msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, logs)
		}
	}
	if !strings.Contains(logs, "failures=5 requests=5 consecutive_failures=5") {
		t.Errorf("the opening line does not give the counts:\n%s", logs)
	}
}

func TestRuleChangeStartsAFreshBreaker(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"f": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	e.getN(breaker.DefaultMinRequests, "f", "", s.URL, safety)
	e.wantState("f", "", gobreaker.StateOpen)
	e.reg.Update([]registry.Raw{{ID: "f", Data: []byte(`{"endpoint": "` + s.URL + `", "breaker": {"minRequests": 100, "consecutiveFailures": 100}}`)}})
	before := s.hits.Load()
	e.getN(50, "f", "", s.URL, safety)
	if got := s.hits.Load() - before; got != 50 {
		t.Errorf("after the rule changed, %d of 50 requests reached the fragment", got)
	}
	e.wantState("f", "", gobreaker.StateClosed)
}

func stateGauge(t *testing.T, e *env, id, version string) prometheus.Collector {
	t.Helper()
	mfs, err := e.m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "composer_fragment_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["fragment"] == id && labels["version"] == version {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no composer_fragment_breaker_state{fragment=%q,version=%q}", id, version)
	return nil
}

// The guards of a version that left the registry are forgotten, its
// gauge too, once another guard is made.
func TestRemovedVersionsAreForgotten(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	e := newEnv(t, map[string]registry.Entry{"cart": {Endpoint: s.URL, Versions: []registry.Version{{Name: "v2", Endpoint: s.URL + "/v2", Weight: 10}}}})
	e.getN(1, "cart", "v2", s.URL+"/v2", safety)
	e.getN(1, "cart", "default", s.URL, safety)
	stateGauge(t, e, "cart", "v2")
	e.reg.Update([]registry.Raw{{ID: "cart", Data: []byte(`{"endpoint": "` + s.URL + `", "versions": [{"name": "v3", "endpoint": "` + s.URL + `/v3", "weight": 10}]}`)}})
	e.getN(1, "cart", "v3", s.URL+"/v3", safety)
	mfs, err := e.m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "version" {
					versions = append(versions, l.GetValue())
				}
			}
		}
	}
	if strings.Join(versions, ",") != "default,v3" {
		t.Errorf("gauges for versions %q, want default and v3", versions)
	}
}

// A blackholed fragment whose timeout is longer than the breaker's window
// still opens its breaker: a failure counts when it ends, in the window as
// it is then, whatever the request's duration.
func TestFailureLongerThanTheWindowCounts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s := newServer(t, hold(release)) // a blackhole: answers nothing
	const min = 5
	e := newEnv(t, map[string]registry.Entry{"slow": {Endpoint: s.URL,
		Breaker: registry.Breaker{Window: 300 * time.Millisecond, MinRequests: min, OpenFor: time.Minute}}})
	var wg sync.WaitGroup
	for range min {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each request waits out a timeout longer than the window.
			_, _ = e.get(context.Background(), "slow", "", s.URL, 500*time.Millisecond)
		}()
	}
	wg.Wait()
	if got := s.hits.Load(); got != min {
		t.Fatalf("the fragment got %d requests, want %d", got, min)
	}
	e.wantState("slow", "", gobreaker.StateOpen)
}

// The attack's case scaled down: a blackhole whose timeout is most of the
// window (8s of 10s there, 800ms of 1s here), asked steadily. Counted in
// the bucket its request started in, each failure stayed in the window for
// only the rest of it (200ms) and the breaker never opened; counted at its
// end, the failures of the last window open it.
func TestFailuresNearTheWindowAccumulate(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s := newServer(t, hold(release))
	const min = 5
	e := newEnv(t, map[string]registry.Entry{"slow": {Endpoint: s.URL,
		Breaker: registry.Breaker{Window: time.Second, MinRequests: min, OpenFor: time.Minute}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.get(context.Background(), "slow", "", s.URL, 800*time.Millisecond)
		}()
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	e.wantState("slow", "", gobreaker.StateOpen)
}

// breakerSeries lists the composer_fragment_breaker_state series as
// fragment@version=value.
func breakerSeries(t *testing.T, e *env) []string {
	t.Helper()
	mfs, err := e.m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "composer_fragment_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, fmt.Sprintf("%s@%s=%v", labels["fragment"], labels["version"], m.GetGauge().GetValue()))
		}
	}
	return out
}

// When an entry's versions are removed, its own endpoint's series changes
// from version "default" to version "": the "default" series goes, and so
// does the guard; and back again.
func TestVersionsRemovedDropTheDefaultSeries(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	versioned := []byte(`{"endpoint": "` + s.URL + `", "versions": [{"name": "v2", "endpoint": "` + s.URL + `/v2", "weight": 50}]}`)
	e := newEnv(t, map[string]registry.Entry{"cv": {Endpoint: s.URL}})
	e.reg.Update([]registry.Raw{{ID: "cv", Data: versioned}})
	e.getN(breaker.DefaultMinRequests, "cv", "default", s.URL, safety)
	e.wantState("cv", "default", gobreaker.StateOpen)
	if got := strings.Join(breakerSeries(t, e), " "); got != "cv@default=2" {
		t.Fatalf("series %q, want cv@default=2", got)
	}
	e.reg.Update([]registry.Raw{{ID: "cv", Data: []byte(`{"endpoint": "` + s.URL + `"}`)}})
	s.set(ok)
	e.getN(1, "cv", "", s.URL, safety)
	if got := strings.Join(breakerSeries(t, e), " "); got != "cv@=0" {
		t.Errorf("after the versions were removed: series %q, want cv@=0", got)
	}
	e.reg.Update([]registry.Raw{{ID: "cv", Data: versioned}})
	e.getN(1, "cv", "default", s.URL, safety)
	if got := strings.Join(breakerSeries(t, e), " "); got != "cv@default=0" {
		t.Errorf("after the versions came back: series %q, want cv@default=0", got)
	}
}

// A fragment whose breaker is off exports no breaker state: "closed"
// would claim a breaker that is not there. Turning it off removes the
// series it had.
func TestBreakerOffExportsNoState(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"legacy": {Endpoint: s.URL, Breaker: registry.Breaker{Off: true}}, "other": {Endpoint: s.URL}})
	e.getN(3, "legacy", "", s.URL, safety)
	if got := breakerSeries(t, e); len(got) != 0 {
		t.Errorf("breaker off: series %q, want none", got)
	}
	e.getN(breaker.DefaultMinRequests, "other", "", s.URL, safety)
	e.reg.Update([]registry.Raw{{ID: "other", Data: []byte(`{"endpoint": "` + s.URL + `", "breaker": "off"}`)}})
	e.getN(1, "other", "", s.URL, safety)
	if got := breakerSeries(t, e); len(got) != 0 {
		t.Errorf("after the breaker was turned off: series %q, want none", got)
	}
}

// Five failures in a row open the breaker whatever the volume and the
// rate; a success in between starts the count again.
func TestConsecutiveFailuresTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"f": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}},
		"g": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute, ConsecutiveFailures: 2}}})
	e.getN(breaker.DefaultConsecutiveFailures-1, "f", "", s.URL, safety)
	s.set(ok)
	e.getN(1, "f", "", s.URL, safety)
	s.set(status(500))
	e.getN(breaker.DefaultConsecutiveFailures-1, "f", "", s.URL, safety)
	e.wantState("f", "", gobreaker.StateClosed)
	e.getN(1, "f", "", s.URL, safety)
	e.wantState("f", "", gobreaker.StateOpen)

	e.getN(1, "g", "", s.URL, safety)
	e.wantState("g", "", gobreaker.StateClosed)
	e.getN(1, "g", "", s.URL, safety)
	e.wantState("g", "", gobreaker.StateOpen)
}

// Each failed probe doubles the open time, up to maxOpenFor; a probe that
// succeeds closes the breaker and the next opening is for openFor again.
func TestOpenTimeGrowsUntilASuccess(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	const openFor = 100 * time.Millisecond
	e := newEnv(t, map[string]registry.Entry{"f": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: openFor, MaxOpenFor: 4 * openFor}}})
	probe := func() {
		t.Helper()
		e.waitState("f", "", gobreaker.StateHalfOpen)
		n := s.hits.Load()
		e.getN(1, "f", "", s.URL, safety)
		if s.hits.Load() != n+1 {
			t.Fatal("the probe did not reach the fragment")
		}
	}
	e.getN(breaker.DefaultConsecutiveFailures, "f", "", s.URL, safety)
	var spells []string
	spell := func() {
		logs := e.log.String()
		i := strings.LastIndex(logs, "open_for_ms=")
		spells = append(spells, strings.Fields(logs[i:])[0])
	}
	spell()
	for range 3 {
		probe()
		spell()
	}
	if got, want := strings.Join(spells, " "), "open_for_ms=100 open_for_ms=200 open_for_ms=400 open_for_ms=400"; got != want {
		t.Errorf("open spells %s, want %s", got, want)
	}
	s.set(ok)
	probe()
	e.wantState("f", "", gobreaker.StateClosed)
	s.set(status(500))
	e.getN(breaker.DefaultConsecutiveFailures, "f", "", s.URL, safety)
	spell()
	if got := spells[len(spells)-1]; got != "open_for_ms=100" {
		t.Errorf("after a success, the breaker opened with %s, want open_for_ms=100", got)
	}
}

// Every request reads its fragment's guard: the read takes no lock, so
// that it never waits for a guard being made (another fragment's first
// request, a registry change), and the two cores never pass a shared
// lock's count between them on every fragment.
func TestReadingAGuardWaitsForNoGuardBeingMade(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	b := breaker.New(&fetch.Mux{HTTP: h}, breaker.Options{})
	get := func() error {
		resp, err := b.Fetch(context.Background(), &fetch.Request{Endpoint: s.URL, Fragment: "a"})
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	release := breaker.HoldGuards(b)
	defer release()
	done := make(chan error, 1)
	go func() { done <- get() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(safety):
		t.Fatal("a request to a fragment with a guard waited for a guard being made")
	}
}
