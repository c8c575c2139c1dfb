package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a loopback OTLP/HTTP trace endpoint that keeps the spans
// it is sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	url   string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *otlpReceiver) byName() map[string]*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	m := map[string]*tracepb.Span{}
	for _, s := range rc.spans {
		m[s.Name] = s
	}
	return m
}

func TestTracesToOTLPAndTraceparentToFragments(t *testing.T) {
	rc := newOTLPReceiver(t)
	var mu sync.Mutex
	seen := map[string]string{}
	frag := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = r.Header.Get("Traceparent")
			mu.Unlock()
			io.WriteString(w, "["+name+"]")
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/p/{id}": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<micro-frontend id="a"/><micro-frontend id="b"/>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"a": %q, "b": %q}`, frag("a"), frag("b")))
	inst := start(t, map[string]string{
		"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile,
		"OTEL_EXPORTER_OTLP_ENDPOINT": rc.url, "OTEL_SERVICE_NAME": "composer-test",
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", inst.base+"/p/1", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	inst.stop(t) // flushes the batch

	spans := rc.byName()
	page, fa := spans["GET /p/{id}"], spans["fragment a"]
	if page == nil || fa == nil || spans["fragment b"] == nil {
		t.Fatalf("spans received: %v", keys(spans))
	}
	if got := hex.EncodeToString(page.TraceId); got != traceID {
		t.Errorf("page span trace id %s, want the caller's %s", got, traceID)
	}
	if got := hex.EncodeToString(page.ParentSpanId); got != "00f067aa0ba902b7" {
		t.Errorf("page span parent %s, want the caller's span", got)
	}
	if hex.EncodeToString(fa.ParentSpanId) != hex.EncodeToString(page.SpanId) {
		t.Error("fragment span is not a child of the page span")
	}
	want := "00-" + traceID + "-" + hex.EncodeToString(fa.SpanId) + "-01"
	mu.Lock()
	defer mu.Unlock()
	if seen["a"] != want {
		t.Errorf("fragment a got traceparent %q, want %q (its client span)", seen["a"], want)
	}
	if !strings.Contains(seen["b"], traceID) {
		t.Errorf("fragment b got traceparent %q", seen["b"])
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
