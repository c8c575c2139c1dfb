package server_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// A page's compressor holds about a megabyte for as long as the page
// streams (brotli's window and hash tables; gzip's), mostly while the page
// waits for its fragments: a thousand pages at once held a gigabyte. The
// compressors held stay within a budget (32 MiB by default): the pages
// beyond it are compressed with gzip that keeps nothing between the
// page's flushes, and a client that takes only brotli gets the page
// uncompressed. Every page still streams, and decodes to itself.
func TestCompressorsHeldByPagesStayWithinTheirBudget(t *testing.T) {
	t.Parallel()
	ts, head, release := heldPage(t)
	want := head + "<p>late fragment</p></body></html>"

	tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 100}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// open starts a page and reads its head, decoded, while the fragment
	// is held: the page and its compressor stay open.
	type page struct {
		encoding string
		rest     func() (string, error)
	}
	open := func(accept string) page {
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Header.Set("Accept-Encoding", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		enc := resp.Header.Get("Content-Encoding")
		var dec io.Reader = resp.Body
		switch enc {
		case "br":
			dec = brotli.NewReader(resp.Body)
		case "gzip":
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			dec = zr
		}
		br := bufio.NewReader(dec)
		got := make([]byte, len(head))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != head {
			t.Fatalf("%q: the head did not stream (%v)", enc, err)
		}
		return page{enc, func() (string, error) {
			defer resp.Body.Close()
			b, err := io.ReadAll(br)
			return string(got) + string(b), err
		}}
	}
	const pages = 40 // 40 brotli compressors would hold about 50 MB
	var all []page
	count := map[string]int{}
	for range pages {
		p := open("gzip, deflate, br")
		all = append(all, p)
		count[p.encoding]++
	}
	if count["br"] == 0 || count["br"] >= pages || count["br"]+count["gzip"] != pages {
		t.Errorf("%d pages at once: %v by Content-Encoding; want brotli up to the budget, gzip after it", pages, count)
	}
	if p := open("br"); p.encoding != "" {
		t.Errorf("a client that takes only brotli, past the budget: Content-Encoding %q, want none", p.encoding)
		all = append(all, p)
	} else {
		all = append(all, p)
	}
	close(release)
	var wg sync.WaitGroup
	for i, p := range all {
		wg.Go(func() {
			got, err := p.rest()
			if err != nil || got != want {
				t.Errorf("page %d (%q): %v, decodes to %d bytes, want %d", i, p.encoding, err, len(got), len(want))
			}
		})
	}
	wg.Wait()
	// The budget comes back as pages end.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := open("gzip, br")
		got, err := p.rest()
		if err != nil || got != want {
			t.Fatalf("after: %v", err)
		}
		if p.encoding == "br" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after every page ended, a new one still gets %q", p.encoding)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
