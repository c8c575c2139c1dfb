package fetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A request's slot travels apart from its Header, so that a page's slots
// can share one Header: every transport sends it as SlotHeader (plain
// http, sent ahead or not; https on net/http's Transport; a Lambda's
// event), and nothing is added to the shared Header.
func TestASlotIsSentApartFromItsSharedHeader(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() })
	plain := httptest.NewServer(handler)
	defer plain.Close()
	tls := httptest.NewTLSServer(handler)
	defer tls.Close()
	h := NewHTTP()
	defer h.Close()
	h.transport.TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
	shared := http.Header{"X-Request-Id": {"r"}, "User-Agent": {"browser"}}
	for i, c := range []struct {
		url   string
		ahead bool
	}{{plain.URL, false}, {plain.URL, true}, {tls.URL, false}} {
		req := &Request{Endpoint: c.url, Header: shared, Slot: SlotValue(i + 1)}
		if c.ahead && !h.Presend(context.Background(), req) {
			t.Fatalf("%s: not sent ahead", c.url)
		}
		resp, err := h.Fetch(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sent := <-got
		if v := sent.Values(SlotHeader); len(v) != 1 || v[0] != req.Slot {
			t.Errorf("%s (ahead %v): %s %q, want %q", c.url, c.ahead, SlotHeader, v, req.Slot)
		}
		if sent.Get("X-Request-Id") != "r" || sent.Get("User-Agent") != "browser" {
			t.Errorf("%s: sent %v", c.url, sent)
		}
	}
	if len(shared) != 2 {
		t.Errorf("the shared Header was changed: %v", shared)
	}
	ev := Event(&Request{Endpoint: "arn:aws:lambda:eu-west-1:1:function:f", Header: shared, Slot: "s7"})
	if ev.Headers[strings.ToLower(SlotHeader)] != "s7" || ev.Headers["x-request-id"] != "r" {
		t.Errorf("a Lambda's event headers: %v", ev.Headers)
	}
	req := &Request{Header: shared, Slot: "s3"}
	if v := req.HeaderValues(SlotHeader); len(v) != 1 || v[0] != "s3" {
		t.Errorf("HeaderValues(%s) = %q", SlotHeader, v)
	}
	if v := req.HeaderValues("X-Request-Id"); len(v) != 1 || v[0] != "r" {
		t.Errorf("HeaderValues(X-Request-Id) = %q", v)
	}
}
