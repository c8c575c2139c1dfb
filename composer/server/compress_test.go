package server_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/ssr-mfe/composer/composer/registry"
)

// heldPage serves "/": head, then a fragment held until release is
// closed, then the page's end.
func heldPage(t *testing.T) (ts *httptest.Server, head string, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			io.WriteString(w, "<p>late fragment</p>")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(frag.Close)
	reg := registry.New(map[string]registry.Entry{"slow": {Endpoint: frag.URL, Timeout: time.Minute}})
	s, ts, _ := newServer(t, reg, nil)
	head = "<!doctype html><html><head><title>t</title></head><body><h1>" + strings.Repeat("head ", 400) + "</h1>"
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": head + `<micro-frontend id=slow/></body></html>`}))
	return ts, head, release
}

func TestCompressionStreamsProgressively(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"br", "gzip"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			ts, head, release := heldPage(t)

			req, _ := http.NewRequest("GET", ts.URL+"/", nil)
			req.Header.Set("Accept-Encoding", enc+", deflate")
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding = %q, want %q", got, enc)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary = %q", resp.Header.Get("Vary"))
			}
			var dec io.Reader
			if enc == "br" {
				dec = brotli.NewReader(resp.Body)
			} else {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				dec = zr
			}
			br := bufio.NewReader(dec)
			// The head decompresses before the slow fragment is released: a
			// compressor that buffered the page would deadlock here.
			var got strings.Builder
			done := make(chan error, 1)
			go func() {
				for !strings.HasSuffix(got.String(), "</h1>") {
					c, err := br.ReadByte()
					if err != nil {
						done <- err
						return
					}
					got.WriteByte(c)
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("reading the head: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the head did not arrive before the fragment was released")
			}
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("rest: %v", err)
			}
			if page := got.String() + string(rest); page != head+"<p>late fragment</p></body></html>" {
				t.Errorf("round trip changed the page: %.80q...", page)
			}
		})
	}
}

func TestNoCompressionUnlessAskedOrTiny(t *testing.T) {
	t.Parallel()
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{}), nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": strings.Repeat("x", 5000), "404.html": "small"}))
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, tt := range []struct {
		path, accept, want string
	}{
		{"/", "", ""},
		{"/", "gzip;q=0, br;q=0", ""},
		{"/", "gzip", "gzip"},
		{"/", "*", "br"},
		{"/nope", "gzip", ""}, // 5-byte error page
		{"/healthz", "gzip", ""},
	} {
		req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Encoding", tt.accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding"); got != tt.want {
			t.Errorf("%s with %q: Content-Encoding %q, want %q", tt.path, tt.accept, got, tt.want)
		}
	}
}
