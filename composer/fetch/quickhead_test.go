package fetch

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// quickHeadParts are the pieces the answers of TestQuickHeadAgreesWithReadResponse
// are made of: what servers send, and what they should not.
var (
	quickStatusLines = []string{
		"HTTP/1.1 200 OK", "HTTP/1.1 200", "HTTP/1.1 200 ", "HTTP/1.1 404 Not Found", "HTTP/1.1 302 Found",
		"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified", "HTTP/1.1 103 Early Hints", "HTTP/1.1 100 Continue",
		"HTTP/1.0 200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 abc OK", "HTTP/1.1 600 Odd", "HTTP/1.1 099 Low",
		"HTTP/1.1 200 O\x00K", "HTTP/1.1  200 OK", "HTTP/2 200 OK", "http/1.1 200 OK", "HTTP/1.1 200\tOK",
	}
	quickHeaders = []string{
		"Content-Type: text/html", "content-type: text/html; charset=utf-8", "CONTENT-TYPE:text/html",
		"Cache-Control: no-store", "Cache-Control:   max-age=60  ", "X-Custom: a", "x-custom: b", "X-Empty:",
		"X-Tab:\tv\t", "X-High: caf\xc3\xa9", "X-Nul: a\x00b", "X-Del: a\x7fb", "Bad Name: v", "Bad\tName: v",
		"NoColon", ": no name", " X-Folded: v", "\tX-Folded: v", "X-Odd-Key_1: v", "Set-Cookie: a=1", "Set-Cookie: b=2",
		"Connection: close", "Connection: keep-alive", "Connection: Keep-Alive, close", "connection: CLOSE", "Connection: upgrade",
		"Pragma: no-cache", "Trailer: X-Sum", "Date: Sun, 06 Dec 2026 22:00:00 GMT", "Vary: Accept-Language",
		"Content-Encoding: identity", "Keep-Alive: timeout=5", "X-Long: " + strings.Repeat("v", 3000),
	}
	quickLengths = []string{"Content-Length: %d", "content-length: %d", "Content-Length: 0%d", "Content-Length: +%d",
		"Content-Length: %d ", "Content-Length:%d", "Content-Length: %d, %d", "Content-Length: -1", "Content-Length: x"}
	quickEncodings = []string{"Transfer-Encoding: chunked", "transfer-encoding: Chunked", "Transfer-Encoding: gzip, chunked",
		"Transfer-Encoding: identity", "Transfer-Encoding: chunked, chunked"}
)

// quickAnswer builds one answer from the parts r picks.
func quickAnswer(r *rand.Rand, body string) string {
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString("HTTP/1.1 200 OK") // the usual, so that many are taken
	} else {
		b.WriteString(quickStatusLines[r.IntN(len(quickStatusLines))])
	}
	b.WriteString("\r\n")
	for range r.IntN(5) {
		b.WriteString(quickHeaders[r.IntN(len(quickHeaders))] + "\r\n")
	}
	chunked := false
	switch r.IntN(6) {
	case 0, 1, 2:
		f := quickLengths[r.IntN(len(quickLengths))]
		if strings.Count(f, "%d") == 2 {
			fmt.Fprintf(&b, f, len(body), len(body)+r.IntN(2))
		} else if strings.Contains(f, "%d") {
			fmt.Fprintf(&b, f, len(body))
		} else {
			b.WriteString(f)
		}
		b.WriteString("\r\n")
		if r.IntN(8) == 0 { // a second one, the same or not
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body)+r.IntN(2))
		}
	case 3, 4:
		b.WriteString(quickEncodings[r.IntN(len(quickEncodings))] + "\r\n")
		chunked = true
		if r.IntN(8) == 0 {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
		}
	}
	if r.IntN(20) == 0 {
		b.WriteString("X-Bare: lf\n")
	}
	b.WriteString("\r\n")
	if !chunked {
		b.WriteString(body)
	} else {
		for rest := body; rest != ""; {
			n := min(len(rest), 1+r.IntN(700))
			ext := ""
			if r.IntN(4) == 0 {
				ext = ";ext=1"
			}
			fmt.Fprintf(&b, "%x%s\r\n%s\r\n", n, ext, rest[:n])
			rest = rest[n:]
		}
		b.WriteString("0\r\n")
		if r.IntN(3) == 0 {
			b.WriteString("X-Sum: abc\r\n")
		}
		b.WriteString("\r\n")
	}
	if r.IntN(4) == 0 {
		b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnext!") // what follows on the connection
	}
	return b.String()
}

// quickResult is an answer as quickRead read it.
type quickResult struct {
	status  int
	header  http.Header
	closing bool
	body    string
	bodyErr error
	rest    string // what the reader holds after the body
	taken   bool   // false: left to net/http
}

// quickRead reads an answer as wire does, the quick way.
func quickRead(answer string) quickResult {
	br := bufio.NewReaderSize(strings.NewReader(answer), wireReadBuffer)
	var q quickBody
	var r quickResult
	r.status, r.header, r.closing, r.taken = q.quickHead(br)
	if !r.taken {
		all, _ := io.ReadAll(br)
		r.rest = string(all)
		return r
	}
	b, err := io.ReadAll(q.body)
	all, _ := io.ReadAll(br)
	r.body, r.bodyErr, r.rest = string(b), err, string(all)
	return r
}

// quickHead is an allocation-lean reading of the answers it takes: for
// each of them, it must give what net/http's http.ReadResponse gives (the
// reference: status, header, whether the connection closes after, the
// body, whether the body ends in error, and where the next answer
// starts); what it does not take it must leave unread.
func TestQuickHeadAgreesWithReadResponse(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(26, 1))
	bodies := []string{"", "x", "<p>answer</p>", strings.Repeat("<p>Lorem ipsum</p>\n", 120)}
	taken := 0
	for i := range 50000 {
		body := bodies[r.IntN(len(bodies))]
		answer := quickAnswer(r, body)
		q := quickRead(answer)
		status, header, closing, gotBody, gotErr, rest := q.status, q.header, q.closing, q.body, q.bodyErr, q.rest
		if !q.taken {
			if rest != answer {
				t.Fatalf("answer %d: left to net/http, but %d bytes were consumed:\n%q", i, len(answer)-len(rest), answer)
			}
			continue
		}
		taken++
		br := bufio.NewReaderSize(strings.NewReader(answer), wireReadBuffer)
		resp, err := http.ReadResponse(br, getRequest)
		if err != nil {
			t.Fatalf("answer %d: taken (status %d), but net/http refuses it (%v):\n%q", i, status, err, answer)
		}
		if resp.StatusCode < 200 {
			t.Fatalf("answer %d: taken as the final answer, net/http reads an informational one:\n%q", i, answer)
		}
		wantBody, wantErr := io.ReadAll(resp.Body)
		wantRest, _ := io.ReadAll(br)
		if status != resp.StatusCode || closing != resp.Close || gotBody != string(wantBody) || (gotErr == nil) != (wantErr == nil) || rest != string(wantRest) {
			t.Fatalf("answer %d:\n%q\nquick: %d close=%v body %q (%v) rest %q\nnet/http: %d close=%v body %q (%v) rest %q",
				i, answer, status, closing, gotBody, gotErr, rest, resp.StatusCode, resp.Close, wantBody, wantErr, wantRest)
		}
		if diff := cmp.Diff(resp.Header, header); diff != "" {
			t.Fatalf("answer %d: header (-net/http +quick):\n%s\n%q", i, diff, answer)
		}
	}
	if taken < 5000 {
		t.Errorf("only %d of 50000 answers taken the quick way: the comparison covers too little", taken)
	}
	t.Logf("%d of 50000 answers taken the quick way", taken)
}

// The plain answers, a fragment server's usual, are the ones taken.
func TestQuickHeadTakesPlainAnswers(t *testing.T) {
	t.Parallel()
	for answer, want := range map[string]string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello":                                   "hello",
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n":        "hello",
		"HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 22:00:00 GMT\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n": "",
	} {
		if q := quickRead(answer); !q.taken || q.bodyErr != nil || q.rest != "" || q.body != want {
			t.Errorf("%q: taken %v, body %q (%v), rest %q", answer, q.taken, q.body, q.bodyErr, q.rest)
		}
	}
}

// A plain head costs the head's one copy and its header map: the values'
// array is part of the answer's own allocation.
func TestQuickHeadAllocatesOnlyTheHeadAndItsMap(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: no-store\r\nDate: Sun, 06 Dec 2026 22:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
	src := strings.NewReader(answer)
	br := bufio.NewReaderSize(src, 4096)
	var q quickBody
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(answer)
		br.Reset(src)
		q = quickBody{}
		if _, _, _, ok := q.quickHead(br); !ok {
			t.Fatal("not taken")
		}
	})
	// The head's string, the map and its table.
	if allocs > 3 {
		t.Errorf("%v allocations a plain head, want 3", allocs)
	}
}

// BenchmarkQuickHead reads a Go fragment server's usual head.
func BenchmarkQuickHead(b *testing.B) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nDate: Sun, 06 Dec 2026 22:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
	src := strings.NewReader(answer)
	br := bufio.NewReaderSize(src, 4096)
	var q quickBody
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(answer)
		br.Reset(src)
		q = quickBody{}
		if _, _, _, ok := q.quickHead(br); !ok {
			b.Fatal("not taken")
		}
	}
}
