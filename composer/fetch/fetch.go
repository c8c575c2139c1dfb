// Package fetch requests fragments from their endpoints: the fragment
// transports.
//
// Data flow:
//
//	Request{endpoint, query, headers} --Mux--> HTTP | Lambda | Step Functions --> Response{status, headers, body}
//
// Every transport honours the context: its deadline is the fragment's total
// deadline (headers and body), and its cancellation (the browser went
// away) stops the request.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/registry"
)

// Request is one fragment request.
type Request struct {
	// Endpoint is the registry's endpoint: URL, ARN or function name.
	Endpoint string
	// Loader is the template's loader attribute: "", "url", "lambda" or
	// "stepfunction".
	Loader string
	// Path is the page's path.
	Path string
	// RawQuery is the page's query string with the route parameters, already
	// encoded.
	RawQuery string
	// PathParams are the page's route parameters.
	PathParams map[string]string
	// Header holds only what may be forwarded (see Headers). It may be
	// shared with the page's other fragment requests: nothing changes it
	// once the request is made (add to a copy).
	Header http.Header
	// Slot is the request's SlotHeader value (SlotValue), which the
	// transports send with Header: kept apart, so that a page's slots can
	// share one Header. "" sends none.
	Slot string
	// Fragment and Version are the fragment's id and the canary version
	// chosen ("" for an entry without versions): what the circuit breaker
	// and the bulkhead (package breaker) keep their state by. Transports
	// send neither.
	Fragment, Version string
	// Override marks a request whose Endpoint comes from a signed
	// per-request override (package override), not from the registry: it
	// goes to the Mux's Override transport only, and is never cached nor
	// counted by breakers or hedges.
	Override bool

	// CacheKey is the fragment cache's key for the request (package
	// cache), made once by the cache, which asks for it up to three
	// times a page (Peek, Presend, Fetch); nothing else reads it.
	CacheKey string

	// sent is the request sent ahead (Presend), until a Fetch takes it or
	// Release closes it.
	sent *sentAhead
}

// Response is a fragment's answer. The caller closes Body.
type Response struct {
	Status int
	Header http.Header
	Body   io.ReadCloser
	// Age is how long a cache held this answer before handing it out; 0
	// for an answer straight from the fragment.
	Age time.Duration
	// Cache is what the fragment cache (package cache) served it from:
	// "hit", "miss", "stale", "stale_if_error", "coalesced" or "bypass";
	// "" when no cache was asked (none configured, or an override). The
	// debug view shows it.
	Cache string
	// Arrived is when the answer's first bytes came, as the kernel took
	// it, for a request sent ahead (Presend) and read later by a page on
	// Linux: the fragment's own time, apart from the page's waiting. Zero
	// when not known: the answer was read as it came.
	Arrived time.Time
}

// Transport fetches fragments of one kind.
type Transport interface {
	Fetch(ctx context.Context, req *Request) (*Response, error)
}

// Presender is a Transport that can send a request ahead of its Fetch: the
// request leaves at once, on the caller's goroutine (or on a goroutine
// that ends with the dial, for a new connection), and the Fetch that
// follows, later and on the caller's goroutine, reads its answer. A page
// sends every fragment request this way, then reads the answers in the
// page's order: a request in flight costs no goroutine.
//
// Presend reports whether it sent req. A layer that would not send req
// upstream at Fetch time (a cache hit, an open breaker, a hedged entry,
// a transport that cannot split its work) reports false and sends
// nothing: the caller then runs Fetch as usual.
type Presender interface {
	Presend(ctx context.Context, req *Request) bool
}

// Presend sends req ahead through t, if t is a Presender; it reports
// whether req was sent. A request sent ahead must be given to t.Fetch, or
// to Release.
func Presend(t Transport, ctx context.Context, req *Request) bool {
	if p, ok := t.(Presender); ok {
		return p.Presend(ctx, req)
	}
	return false
}

// ErrNoTransport is returned for an endpoint whose kind has no transport
// configured.
var ErrNoTransport = errors.New("no transport for this kind of endpoint")

// Mux sends each request to the transport its endpoint's form (or the
// template's loader) calls for. A nil transport fails with ErrNoTransport.
type Mux struct {
	HTTP          Transport
	Lambda        Transport
	StepFunctions Transport
	// Override takes every request marked Override, whatever its
	// endpoint: a transport that dials only the hosts overrides may reach.
	Override Transport
}

// Kind names the transport an endpoint needs: "url", "lambda" or
// "stepfunction".
func Kind(endpoint, loader string) string {
	switch {
	case strings.HasPrefix(endpoint, "arn:aws:lambda:") || strings.HasPrefix(endpoint, "arn:aws-cn:lambda:") || strings.HasPrefix(endpoint, "arn:aws-us-gov:lambda:"):
		return "lambda"
	case strings.HasPrefix(endpoint, "arn:") && strings.Contains(endpoint, ":states:"):
		return "stepfunction"
	case strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://"):
		return "url"
	case loader != "":
		return loader
	}
	return "lambda" // a bare function name
}

// Fetch implements Transport.
func (m *Mux) Fetch(ctx context.Context, req *Request) (*Response, error) {
	var t Transport
	kind := Kind(req.Endpoint, req.Loader)
	if req.Override {
		if m.Override == nil {
			return nil, fmt.Errorf("override: %w", ErrNoTransport)
		}
		return m.Override.Fetch(ctx, req)
	}
	switch kind {
	case "url":
		t = m.HTTP
	case "lambda":
		t = m.Lambda
	case "stepfunction":
		t = m.StepFunctions
	}
	if t == nil {
		return nil, fmt.Errorf("%s endpoint: %w", kind, ErrNoTransport)
	}
	return t.Fetch(ctx, req)
}

// SlotHeader names the slot a fragment request fills: a value of the
// composer's, unique within the page and the same on every load of the
// same template ("s" and the slot's index in the template). A fragment
// that renders ids (React's identifierPrefix, Vue's useId prefix) draws
// them from it, so that two slots of one fragment on a page do not
// collide. Package cache keys on it (two slots are two renders).
const SlotHeader = "Mfe-Slot"

// SlotValue is slot i's SlotHeader value, "s" and i: made once for the
// first slots of a template.
func SlotValue(i int) string {
	if i >= 0 && i < len(slotValues) {
		return slotValues[i][0]
	}
	return "s" + strconv.Itoa(i)
}

// slotValues are the first slots' SlotHeader values, each a slice of its
// own, clipped: HeaderValues hands them out, and an append to one makes a
// copy.
var slotValues = func() [][]string {
	v := make([][]string, 256)
	for i := range v {
		v[i] = []string{"s" + strconv.Itoa(i)}[:1:1]
	}
	return v
}()

// HeaderValues returns header name's values as the transports send them:
// Header's, and Slot's for SlotHeader. The caller must not change them.
func (r *Request) HeaderValues(name string) []string {
	if name == SlotHeader && r.Slot != "" {
		if i, err := strconv.Atoi(strings.TrimPrefix(r.Slot, "s")); err == nil && i >= 0 && i < len(slotValues) && slotValues[i][0] == r.Slot {
			return slotValues[i]
		}
		return []string{r.Slot}
	}
	return r.Header[name]
}

// Podium's context headers, sent to an entry that asks for them
// (registry.Podium): the composer's values, never a visitor's header.
const (
	PodiumLocale         = "Podium-Locale"
	PodiumDeviceType     = "Podium-Device-Type"
	PodiumMountOrigin    = "Podium-Mount-Origin"
	PodiumMountPathname  = "Podium-Mount-Pathname"
	PodiumPublicPathname = "Podium-Public-Pathname"
	PodiumRequestedBy    = "Podium-Requested-By"
)

// ComposerHeaders are the request headers whose values the composer sets
// itself (the slot, Podium's context): they hold nothing of the visitor's
// beyond what the CDN keys on, and package cache keys on every one.
var ComposerHeaders = []string{SlotHeader, PodiumLocale, PodiumDeviceType, PodiumMountOrigin, PodiumMountPathname, PodiumPublicPathname, PodiumRequestedBy}

// DefaultHeaders are the page request headers every fragment receives.
var DefaultHeaders = []string{"Accept-Language", "User-Agent", "X-Request-Id", "Traceparent"}

// Personal reports whether a fragment request carries a visitor's own
// headers: anything beyond DefaultHeaders and the trace context, that is an
// entry's forwardHeaders (Cookie, Authorization, ...). Such a request's
// answer may be that visitor's alone.
func Personal(h http.Header) bool {
	for name := range h {
		switch name {
		case "Accept-Language", "User-Agent", "X-Request-Id", "Traceparent", "Tracestate":
		case SlotHeader, PodiumLocale, PodiumDeviceType, PodiumMountOrigin, PodiumMountPathname, PodiumPublicPathname, PodiumRequestedBy:
		default:
			return true
		}
	}
	return false
}

// MaxHeaderValue is the longest header value forwarded to a fragment.
const MaxHeaderValue = 4096

// Headers picks from the page request's headers what a fragment may see:
// DefaultHeaders and the entry's forward list, nothing else. Values with
// control characters or longer than MaxHeaderValue are dropped.
func Headers(page http.Header, requestID string, forward []string) http.Header {
	h := make(http.Header, len(DefaultHeaders)+len(forward))
	copyHeader := func(name string) {
		values := page[name]
		for i, v := range values {
			if len(v) > MaxHeaderValue || strings.ContainsFunc(v, isCTL) {
				// Some values dropped: a slice of its own for the rest.
				kept := slices.Clip(values[:i:i])
				for _, v := range values[i+1:] {
					if len(v) <= MaxHeaderValue && !strings.ContainsFunc(v, isCTL) {
						kept = append(kept, v)
					}
				}
				if len(kept) > 0 {
					h[name] = kept
				}
				return
			}
		}
		if len(values) > 0 {
			// Every value kept: the page's slice, clipped, so that an
			// append to either never writes into the other.
			h[name] = slices.Clip(values)
		}
	}
	copyHeader("Accept-Language")
	copyHeader("User-Agent")
	copyHeader("Traceparent")
	h["X-Request-Id"] = []string{requestID}
	for _, name := range forward {
		if !registry.NeverForwarded(name) { // refused by the registry too; kept for entries built otherwise
			copyHeader(name)
		}
	}
	// Sent twice by the visitor: User-Agent is no list (RFC 9110 §5.3: no
	// sender makes two lines of it), the first goes; two Traceparents make
	// a request with no trace context (W3C Trace Context), none goes.
	if ua := h["User-Agent"]; len(ua) > 1 {
		h["User-Agent"] = ua[:1:1]
	}
	if len(h["Traceparent"]) > 1 {
		delete(h, "Traceparent")
	}
	if cs, ok := h["Cookie"]; ok {
		h["Cookie"] = withoutOverrideCookie(cs)
		if len(h["Cookie"]) == 0 {
			delete(h, "Cookie")
		}
	}
	return h
}

// withoutOverrideCookie is Cookie header values without the override
// cookie: a developer's token is theirs, never a fragment's.
func withoutOverrideCookie(values []string) []string {
	var out []string
	for _, v := range values {
		var keep []string
		dropped := false
		for pair := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(pair, "=")
			if strings.TrimSpace(name) == override.Cookie {
				dropped = true
			} else if pair = strings.TrimSpace(pair); pair != "" {
				keep = append(keep, pair)
			}
		}
		if !dropped {
			out = append(out, v) // untouched
		} else if len(keep) > 0 {
			out = append(out, strings.Join(keep, "; "))
		}
	}
	return out
}

func isCTL(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }
