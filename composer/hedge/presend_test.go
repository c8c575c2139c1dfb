package hedge

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/presendtest"
	"github.com/ssr-mfe/composer/composer/registry"
)

// presender is the bottom of a chain under test.
type presender = presendtest.Recorder

// newPresendHedge is a hedge Transport for the entries, above a
// presender, which says yes, above the HTTP transport.
func newPresendHedge(t *testing.T, entries map[string]registry.Entry) (*Transport, *presender) {
	t.Helper()
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	p := presendtest.New(&fetch.Mux{HTTP: h, Override: h}, false)
	p.Answer.Store(true)
	return New(p, Options{Registry: registry.New(entries), Metrics: prometheus.NewRegistry()}), p
}

// hedgeState is all tr holds, as text: each fragment version's state
// (which one, its budget and samples) and its series.
func hedgeState(tr *Transport) string {
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	var lines []string
	for k, s := range tr.states {
		s.mu.Lock()
		lines = append(lines, fmt.Sprintf("%v: %p credit %v samples %d", k, s, s.credit, s.n))
		s.mu.Unlock()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + fmt.Sprintf("\nseries %d", testutil.CollectAndCount(tr.hedges))
}

// presendTo sends req ahead through tr and checks that it reported want,
// that the bottom was asked (called) or not, and that tr holds what it
// held.
func presendTo(t *testing.T, tr *Transport, p *presender, req *fetch.Request, want, called bool) {
	t.Helper()
	before, calls := hedgeState(tr), p.Calls()
	if got := tr.Presend(context.Background(), req); got != want {
		t.Errorf("Presend = %v, want %v", got, want)
	}
	if got := p.Calls() - calls; got != map[bool]int{false: 0, true: 1}[called] {
		t.Errorf("the bottom transport was asked %d times, want %v", got, called)
	}
	if after := hedgeState(tr); after != before {
		t.Errorf("Presend changed the hedge layer:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A hedged fragment's request goes on a goroutine of its own, perhaps
// beside a second one: none is sent ahead, with a delay ("40ms") or
// "auto" (even before its delay is known), and the budget and state are
// left to Fetch.
func TestPresendSendsNothingForAHedgedFragment(t *testing.T) {
	t.Parallel()
	f := newFragment(t, func(f *fragment, n int, w http.ResponseWriter, r *http.Request) { f.answer(n, w) })
	for _, rule := range []string{`"40ms"`, `"auto"`, `{"delay": "10s", "budget": 1}`} {
		t.Run(rule, func(t *testing.T) {
			tr, p := newPresendHedge(t, map[string]registry.Entry{"f": entry(t, f, `, "hedge": `+rule)})
			presendTo(t, tr, p, request(f), false, false) // no state yet
			if _, err := get(t, tr, request(f)); err != nil {
				t.Fatal(err)
			}
			presendTo(t, tr, p, request(f), false, false) // a state, a budget
			if _, err := get(t, tr, request(f)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A fragment without a hedge rule, a request without a Fragment, an
// override and a Transport without a registry pass through as in Fetch:
// Presend reports the bottom's answer.
func TestPresendPassesUnhedgedRequestsThrough(t *testing.T) {
	t.Parallel()
	f := newFragment(t, func(f *fragment, n int, w http.ResponseWriter, r *http.Request) { f.answer(n, w) })
	tr, p := newPresendHedge(t, map[string]registry.Entry{
		"f":     entry(t, f, `, "hedge": "40ms"`),
		"plain": entry(t, f, ``),
	})
	unhedged := request(f)
	unhedged.Fragment = "plain"
	noID := request(f)
	noID.Fragment = ""
	override := request(f)
	override.Override = true
	for _, req := range []*fetch.Request{unhedged, noID, override} {
		presendTo(t, tr, p, req, true, true)
	}
	p.Answer.Store(false)
	presendTo(t, tr, p, unhedged, false, true)

	p.Answer.Store(true)
	tr.reg = nil
	presendTo(t, tr, p, request(f), true, true)
}

// Above a transport that cannot send ahead, nothing is sent.
func TestPresendNeedsAPresenderBelow(t *testing.T) {
	t.Parallel()
	f := newFragment(t, func(f *fragment, n int, w http.ResponseWriter, r *http.Request) { f.answer(n, w) })
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	tr := New(presendtest.Plain{Transport: &fetch.Mux{HTTP: h}}, Options{Registry: registry.New(map[string]registry.Entry{"plain": entry(t, f, ``)})})
	req := request(f)
	req.Fragment = "plain"
	if tr.Presend(context.Background(), req) {
		t.Errorf("Presend = true above a transport that is not a Presender")
	}
}
