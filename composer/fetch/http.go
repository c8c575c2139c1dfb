package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP fetches fragments with GET: plain-http endpoints (the internal
// network's) over this package's own connection pool (wire), https ones
// over a pooled net/http Transport (TLS, HTTP/2, HTTPS_PROXY).
type HTTP struct {
	plain     *wire
	targets   sync.Map // endpoint -> *plainTarget
	ntargets  atomic.Int64
	transport *http.Transport
	// own serves requests that carry a visitor's own headers: a new
	// connection each, never reused (see Personal).
	own     *http.Transport
	allowed []string // host patterns; empty allows every host
}

// PoolStats is what the pool of plain-http fragment connections holds and
// has done (https fragments go through net/http's Transport, and requests
// carrying a visitor's own headers through connections of their own:
// neither is counted).
type PoolStats struct {
	Idle        int   // connections held idle now
	Dialled     int64 // connections dialled
	Reused      int64 // requests sent on a pooled connection
	FoundClosed int64 // pooled connections found closed (or with bytes nobody asked for, or idle too long) when taken, and closed
	DialsWaited int64 // dials that waited for one of their address's dials in flight to end (wireDialsPerAddr)
	DialsLate   int64 // of those, the dials that waited wireDialWait and went ahead on their own
}

// PoolStats reports the pool's figures now.
func (h *HTTP) PoolStats() PoolStats {
	w := h.plain
	w.mu.Lock()
	idle := w.nidle
	w.mu.Unlock()
	return PoolStats{Idle: idle, Dialled: w.dialled.Load(), Reused: w.reused.Load(), FoundClosed: w.foundClosed.Load(), DialsWaited: w.dialsWaited.Load(), DialsLate: w.dialsLate.Load()}
}

// ErrHostNotAllowed is an endpoint whose host is not on the allow-list.
var ErrHostNotAllowed = errors.New("endpoint host is not on the allow-list")

// AllowHosts limits fragment requests to hosts matching one of patterns:
// "name" matches exactly, "*.domain" matches any name below domain. An
// empty list allows every host.
func (h *HTTP) AllowHosts(patterns []string) {
	h.allowed = nil
	for _, p := range patterns {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			h.allowed = append(h.allowed, p)
		}
	}
}

func (h *HTTP) hostAllowed(host string) bool {
	return len(h.allowed) == 0 || MatchHost(h.allowed, host)
}

// MatchHost reports whether host matches one of patterns, in the form of
// AllowHosts ("name" exactly, "*.domain" any name below domain, never an
// IP literal); an empty list matches nothing.
func MatchHost(patterns []string, host string) bool {
	host = strings.ToLower(host)
	_, ipErr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if ipErr != nil && strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// NewHTTP returns an HTTP transport tuned for many small requests to a few
// hosts: keep-alive with a deep idle pool per host, so a page's fragments
// reuse warm connections instead of dialling.
//
// Both of its clients pass the conformance suite (conformance_test.go): a
// connection the server closed while idle is noticed and never handed out
// (a request on one that turns out dead before any answer byte is sent
// again on a new connection, once; one on a fresh connection never is),
// bytes arriving on an idle connection make it closed instead of being
// taken for the next request's answer, and header blocks are limited.
// Plain http goes over wire, where a request in flight costs only its
// caller's goroutine and an idle connection none; https over net/http's
// Transport (with answerConn for the answers that came before their
// request), which keeps two goroutines per connection but brings TLS,
// HTTP/2 and the proxy.
func NewHTTP() *HTTP {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return newHTTP(httpsProxyFromEnvironment, dialer.DialContext)
}

// newHTTP is NewHTTP with its proxy choice and its dialler.
func newHTTP(proxy func(*http.Request) (*url.URL, error), dial func(ctx context.Context, network, addr string) (net.Conn, error)) *HTTP {
	t := &http.Transport{
		Proxy: proxy,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &answerConn{Conn: c}, nil
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 3 * time.Second,
		// Fragments are HTML with small headers; a huge header block is a
		// broken or hostile fragment.
		MaxResponseHeaderBytes: 64 << 10,
		// Small buffers: a composer holds five upstream connections per page
		// in flight, and a thousand pages at once must fit in memory; each
		// connection keeps both buffers for its whole life. A request head
		// is a few hundred bytes (a longer one is written past the buffer,
		// whole); the read buffer takes a small fragment's whole answer in
		// one read, and a body read into a bigger buffer skips it.
		WriteBufferSize: 1 << 10,
		ReadBufferSize:  4 << 10,
		// No Accept-Encoding is sent: fragments answer plain HTML on the
		// internal network, and an encoded answer is refused (see Fetch).
		DisableCompression: true,
		// No ResponseHeaderTimeout: the context carries the fragment's
		// deadline, for headers and body.
	}
	own := t.Clone()
	own.DisableKeepAlives = true
	return &HTTP{plain: &wire{dial: dial, dialWait: wireDialWait}, transport: t, own: own}
}

// httpsProxyFromEnvironment applies HTTPS_PROXY (and NO_PROXY) to https
// endpoints; plain-http fragments, the internal network's, never go
// through a proxy.
func httpsProxyFromEnvironment(r *http.Request) (*url.URL, error) {
	if r.URL.Scheme != "https" {
		return nil, nil
	}
	return http.ProxyFromEnvironment(r)
}

// Close drops idle connections.
func (h *HTTP) Close() {
	h.plain.closeIdle()
	h.transport.CloseIdleConnections()
	h.own.CloseIdleConnections()
}

// Fetch implements Transport: GET endpoint?query with req.Header. Redirects
// are not followed: a fragment's redirect is the fragment's answer (a
// required fragment's redirects the page; any other is a failure).
//
// A plain-http fragment goes on from a small frame: it stays on the
// fetching goroutine's stack while the answer is awaited, a thousand pages
// of five fragments at once; the Transport's path has a function of its
// own.
func (h *HTTP) Fetch(ctx context.Context, req *Request) (*Response, error) {
	t := h.target(req.Endpoint)
	if t == nil {
		return h.fetchTransport(ctx, req)
	}
	if !h.hostAllowed(t.hostname) {
		return nil, fmt.Errorf("%w: %s", ErrHostNotAllowed, t.hostname)
	}
	ahead := req.sent
	if ahead == nil && presendEveryFetch && h.presendForTest(ctx, req) {
		ahead = req.sent
	}
	if ahead != nil && !ahead.claim() {
		ahead = nil // claimed by another Fetch (of a copy): sent again
	}
	resp, err := h.plain.roundTrip(ctx, &t.target, req, Personal(req.Header), ahead)
	if err != nil {
		return nil, err
	}
	if err := encoded(resp.Header); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// presendForTest is presendEveryFetch's Presend, with a look.
//
//go:noinline
func (h *HTTP) presendForTest(ctx context.Context, req *Request) bool {
	if !h.Presend(ctx, req) {
		return false
	}
	sentAheadInFetch.Add(1)
	Answered(req)
	return true
}

// fetchTransport is Fetch over net/http's Transport: https, and the
// endpoints wire does not take.
//
//go:noinline
func (h *HTTP) fetchTransport(ctx context.Context, req *Request) (*Response, error) {
	u := req.Endpoint
	if req.RawQuery != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + req.RawQuery
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return nil, fmt.Errorf("build request: unsupported scheme %q", pu.Scheme)
	}
	if pu.Host == "" {
		return nil, fmt.Errorf("build request: no host in %q", u)
	}
	if !h.hostAllowed(pu.Hostname()) {
		return nil, fmt.Errorf("%w: %s", ErrHostNotAllowed, pu.Hostname())
	}
	a := &answerCheck{}
	a.trace.GotConn = a.gotConn
	hr, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &a.trace), http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	hr.Header = req.Header
	if _, ok := hr.Header["User-Agent"]; !ok || req.Slot != "" {
		// A fragment receives only the headers Headers picked: not Go's
		// default User-Agent either. Header may be the page's other
		// requests' too: a copy takes the slot.
		hr.Header = make(http.Header, len(req.Header)+2)
		for k, v := range req.Header {
			hr.Header[k] = v // the Transport does not change values
		}
		if !ok {
			hr.Header["User-Agent"] = nil
		}
		if req.Slot != "" {
			hr.Header[SlotHeader] = req.HeaderValues(SlotHeader)
		}
	}
	// A stray answer that a buggy server writes just as the next request
	// on that connection is sent cannot be told from that request's answer,
	// by this client or any other HTTP/1.1 client; once taken, the
	// connection stays one answer behind. A request with a visitor's own
	// headers therefore never shares a connection: it can get no answer but
	// its own, whatever the server does elsewhere.
	t := h.transport
	if Personal(req.Header) {
		t = h.own
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		a.conn, a.start, a.reused = nil, 0, false
		resp, err = t.RoundTrip(hr)
		if err != nil {
			return nil, err
		}
		if a.answered(resp) {
			break
		}
		// Bytes that were on the connection before this request was
		// written: not its answer. The connection is dropped and the request
		// sent again, if that connection was a reused one (its fault, not
		// the server's answer to a fresh request): a few times at most, as
		// other pooled connections of a buggy server may hold the same.
		a.conn.Close()
		resp.Body.Close()
		if !a.reused || attempt >= maxUnsolicitedRetries || ctx.Err() != nil {
			return nil, errUnsolicited
		}
	}
	if err := encoded(resp.Header); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: resp.Body}, nil
}

// plainTarget is a plain-http endpoint parsed once, with its host name
// for the allow-list.
type plainTarget struct {
	target
	hostname string
}

// maxTargets bounds the endpoints parsed once and kept: registries hold
// tens or hundreds; past the bound, an endpoint is parsed for each request.
const maxTargets = 4096

// target is endpoint's plain-http target, or nil for an endpoint the
// Transport takes (https, a host name that is not ASCII) or that does not
// parse (Fetch says why).
func (h *HTTP) target(endpoint string) *plainTarget {
	if v, ok := h.targets.Load(endpoint); ok {
		return v.(*plainTarget)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Host == "" || !isASCII(u.Host) || u.Fragment != "" || strings.Contains(endpoint, "#") || u.User != nil {
		return nil
	}
	t := &plainTarget{target: *newTarget(u), hostname: u.Hostname()}
	if h.ntargets.Add(1) <= maxTargets {
		h.targets.Store(endpoint, t)
	}
	return t
}

// encoded refuses an encoded answer: no Accept-Encoding is sent, so an
// encoded body was not asked for, and the page cannot use it.
func encoded(header http.Header) error {
	if ce := header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Errorf("fragment answered with Content-Encoding %q", ce)
	}
	return nil
}

// isASCII reports whether s is ASCII: a host that is not is left to the
// Transport, which converts it.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// maxUnsolicitedRetries bounds the requests sent again after an unsolicited
// answer on a reused connection.
const maxUnsolicitedRetries = 3

// errUnsolicited is an answer that was on the connection before its request
// was written.
var errUnsolicited = errors.New("fragment connection had an answer before the request was sent (unsolicited response)")

// answerConn is a connection of the transport that can tell a request's
// answer from bytes that were already there.
//
// net/http's Transport drops a keep-alive connection on which bytes arrive
// while it is idle, but only if its reading goroutine looks before the next
// request takes the connection: a buggy server's second response written
// together with the first waits in the connection's read buffer, and the
// next request may get it as its answer (the conformance suite shows it,
// under the race detector). An answer is a request's only if some of it was
// read from the socket after that request's first write began: a server
// answers what it has received. Only counters: no HTTP is parsed here.
type answerConn struct {
	net.Conn
	writes   atomic.Uint64 // writes begun
	readMark atomic.Uint64 // writes begun when a read last returned bytes
}

func (c *answerConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *answerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readMark.Store(c.writes.Load())
	}
	return n, err
}

// answerCheck follows one request: the connection it got and how many
// writes that connection had begun before.
type answerCheck struct {
	trace  httptrace.ClientTrace // GotConn: gotConn
	conn   *answerConn
	start  uint64
	reused bool
}

func (a *answerCheck) gotConn(info httptrace.GotConnInfo) {
	c := info.Conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if ac, ok := c.(*answerConn); ok {
		a.conn, a.start, a.reused = ac, ac.writes.Load(), info.Reused
	}
}

// answered reports whether resp was read after its request was written. An
// HTTP/2 answer is matched to its request by its stream.
func (a *answerCheck) answered(resp *http.Response) bool {
	return a.conn == nil || resp.ProtoMajor != 1 || a.conn.readMark.Load() > a.start
}
