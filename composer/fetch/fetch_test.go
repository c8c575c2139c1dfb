package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	t.Parallel()
	page := http.Header{
		"Accept-Language": {"en-GB"},
		"User-Agent":      {strings.Repeat("x", MaxHeaderValue+1)},
		"Traceparent":     {"00-abc-def-01"},
		"Cookie":          {"a=1"},
		"Authorization":   {"Bearer t"},
		"X-Team":          {"ok", "bad\x01value"},
		"X-Request-Id":    {"spoofed"},
	}
	got := Headers(page, "rid", []string{"X-Team", "X-Request-Id"})
	want := http.Header{
		"Accept-Language": {"en-GB"},
		"Traceparent":     {"00-abc-def-01"},
		"X-Request-Id":    {"rid"},
		"X-Team":          {"ok"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Headers(page, "rid", []string{"Cookie"}); got.Get("Cookie") != "a=1" || got.Get("Authorization") != "" {
		t.Errorf("forwardHeaders [Cookie]: %v", got)
	}
	page["Accept-Encoding"] = []string{"gzip"}
	page["Connection"] = []string{"close"}
	if got := Headers(page, "rid", []string{"Accept-Encoding", "Connection", "Host"}); len(got["Accept-Encoding"])+len(got["Connection"])+len(got["Host"]) != 0 {
		t.Errorf("connection and encoding headers forwarded: %v", got)
	}
}

// A visitor's User-Agent sent twice reaches a fragment once (it is no
// list: RFC 9110 §5.3 lets no sender make two lines of it), the first;
// a Traceparent sent twice not at all (W3C Trace Context: a request
// with two starts a trace of its own). Accept-Language is a list: its
// lines go as they came.
func TestHeadersSendSingleValuedHeadersOnce(t *testing.T) {
	t.Parallel()
	page := http.Header{
		"Accept-Language": {"de", "en;q=0.5"},
		"User-Agent":      {"first/1", "second/2"},
		"Traceparent":     {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b8-01"},
	}
	want := http.Header{
		"Accept-Language": {"de", "en;q=0.5"},
		"User-Agent":      {"first/1"},
		"X-Request-Id":    {"rid"},
	}
	if diff := cmp.Diff(want, Headers(page, "rid", nil)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The first User-Agent dropped (a control character): the next one.
	page["User-Agent"] = []string{"bad\x01", "next/3", "last/4"}
	if got := Headers(page, "rid", nil)["User-Agent"]; !slices.Equal(got, []string{"next/3"}) {
		t.Errorf("User-Agent %q, want the first valid one", got)
	}
	// Forwarded by an entry's list, the same.
	page["User-Agent"] = []string{"first/1", "second/2"}
	if got := Headers(page, "rid", []string{"User-Agent", "Traceparent"}); len(got["User-Agent"]) != 1 || got["Traceparent"] != nil {
		t.Errorf("forwarded: %v", got)
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ endpoint, loader, want string }{
		{"https://x/", "", "url"},
		{"http://x/", "lambda", "url"},
		{"arn:aws:lambda:eu-west-1:1:function:f", "", "lambda"},
		{"arn:aws:states:eu-west-1:1:stateMachine:s", "", "stepfunction"},
		{"my-function", "lambda", "lambda"},
		{"my-function", "", "lambda"},
	} {
		if got := Kind(tt.endpoint, tt.loader); got != tt.want {
			t.Errorf("Kind(%q, %q) = %q, want %q", tt.endpoint, tt.loader, got, tt.want)
		}
	}
}

func TestMuxWithoutTransport(t *testing.T) {
	t.Parallel()
	_, err := (&Mux{}).Fetch(context.Background(), &Request{Endpoint: "arn:aws:lambda:eu-west-1:1:function:f"})
	if !errors.Is(err, ErrNoTransport) {
		t.Errorf("err = %v, want ErrNoTransport", err)
	}
}

func TestHTTPDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	followed := false
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL + "/frag", Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != http.StatusFound || followed {
		t.Errorf("status %d, followed %v; want the 302 itself", resp.Status, followed)
	}
}

func TestAllowHosts(t *testing.T) {
	t.Parallel()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	h.AllowHosts([]string{"*.internal", " Reviews.Example.com "})
	for host, want := range map[string]bool{
		"a.internal": true, "x.y.internal": true, "internal": false, "evil-internal": false,
		"reviews.example.com": true, "REVIEWS.example.com": true, "x.reviews.example.com": false, "127.0.0.1": false,
	} {
		if got := h.hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	_, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{}})
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Errorf("fetch of a host off the list: %v", err)
	}
	h.AllowHosts(nil)
	resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{}})
	if err != nil {
		t.Fatalf("empty list: %v", err)
	}
	resp.Body.Close()
}

// BenchmarkHTTPFetch is one fragment request over loopback keep-alive,
// body read whole: the client's cost per fragment (the server's too).
func BenchmarkHTTPFetch(b *testing.B) {
	body := strings.Repeat("<p>fragment</p>", 140) // about 2 KB
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, body)
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	req := &Request{Endpoint: s.URL + "/f", RawQuery: "id=1", Header: http.Header{"Accept-Language": {"en"}, "X-Request-Id": {"r"}}}
	b.ReportAllocs()
	fetchLoop(b, h, req)
}

func TestPersonal(t *testing.T) {
	page := http.Header{"Accept-Language": {"de"}, "User-Agent": {"ua"}, "Cookie": {"s=1"}, "Authorization": {"Bearer x"}, "X-User": {"7"}}
	if Personal(Headers(page, "id", nil)) {
		t.Error("the default headers alone are taken as a visitor's own")
	}
	h := Headers(page, "id", nil)
	h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.Set("Tracestate", "a=b")
	if Personal(h) {
		t.Error("the trace context is taken as a visitor's own")
	}
	for _, fwd := range []string{"Cookie", "Authorization", "X-User"} {
		if !Personal(Headers(page, "id", []string{fwd})) {
			t.Errorf("a request forwarding %s is not taken as a visitor's own", fwd)
		}
	}
}

type named string

func (n named) Fetch(context.Context, *Request) (*Response, error) {
	return &Response{Status: 200, Header: http.Header{"X-T": {string(n)}}}, nil
}

func TestMuxSendsOverridesToTheOverrideTransportOnly(t *testing.T) {
	m := &Mux{HTTP: named("http"), Lambda: named("lambda")}
	if _, err := m.Fetch(context.Background(), &Request{Endpoint: "http://a/", Override: true}); !errors.Is(err, ErrNoTransport) {
		t.Fatalf("override without an override transport: %v", err)
	}
	m.Override = named("override")
	for _, ep := range []string{"http://a/", "arn:aws:lambda:eu-west-1:1:function:f"} {
		resp, err := m.Fetch(context.Background(), &Request{Endpoint: ep, Override: true})
		if err != nil || resp.Header.Get("X-T") != "override" {
			t.Fatalf("%s: %v %v", ep, resp, err)
		}
	}
}

// An override token is the developer's: no fragment receives it, even one
// whose entry forwards Cookie (or names the header).
func TestHeadersNeverForwardOverrideTokens(t *testing.T) {
	t.Parallel()
	page := http.Header{
		"Mfe-Override": {"tok.sig"},
		"Cookie":       {"a=1; mfe-override=tok.sig; b=2", "mfe-override=x"},
	}
	got := Headers(page, "rid", []string{"Cookie", "Mfe-Override"})
	if got.Get("Mfe-Override") != "" || len(got["Cookie"]) != 1 || got.Get("Cookie") != "a=1; b=2" {
		t.Errorf("forwarded %v", got)
	}
}

// fetchLoop fetches req and reads its answer whole, b.N times.
func fetchLoop(b *testing.B, h *HTTP, req *Request) {
	b.Helper()
	for b.Loop() {
		resp, err := h.Fetch(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
