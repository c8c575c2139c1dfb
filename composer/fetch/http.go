package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTP fetches fragments with GET over one shared, pooled transport.
type HTTP struct {
	client  *http.Client // https endpoints
	plain   *h1          // http endpoints
	allowed []string     // host patterns; empty allows every host
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
	if len(h.allowed) == 0 {
		return true
	}
	host = strings.ToLower(host)
	for _, p := range h.allowed {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
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
func NewHTTP() *HTTP {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   3 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Fragments are HTML with small headers; a huge header block is a
		// broken or hostile fragment.
		MaxResponseHeaderBytes: 64 << 10,
		// Small buffers: a composer holds five upstream connections per page
		// in flight, and a thousand pages at once must fit in memory.
		WriteBufferSize: 4 << 10,
		ReadBufferSize:  4 << 10,
	}
	return &HTTP{plain: newH1(), client: &http.Client{
		Transport: t,
		// A fragment's redirect is the fragment's answer: a required
		// fragment's redirect redirects the page; any other is a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Close drops idle connections.
func (h *HTTP) Close() {
	h.client.CloseIdleConnections()
	h.plain.closeIdle()
}

// Fetch implements Transport: GET endpoint?query with req.Header.
func (h *HTTP) Fetch(ctx context.Context, req *Request) (*Response, error) {
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
	if !h.hostAllowed(pu.Hostname()) {
		return nil, fmt.Errorf("%w: %s", ErrHostNotAllowed, pu.Hostname())
	}
	if pu.Scheme == "http" {
		return h.plain.do(ctx, pu, req.Header)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	hr.Header = req.Header
	resp, err := h.client.Do(hr)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: resp.Body}, nil
}
