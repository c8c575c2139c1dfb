package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// CloudFront does not compress chunked origin responses, so the composer
// compresses pages itself, while they stream: every flush of the page (one
// at each fragment boundary) is also a flush of the compressor, so the
// browser can render what has arrived.

// minCompressSize is the smallest response worth compressing when its size
// is known up front (error pages); a streamed page is always compressed.
const minCompressSize = 1024

// Compression levels chosen for CPU per page over ratio: brotli 4 and gzip 5
// are within a few percent of their best ratios on HTML at a fraction of
// the cost. Brotli's window is 256 KiB (gzip's is 32 KiB) instead of the
// library's 4 MiB: an encoder's memory follows its window (about 1.2 MB
// instead of 9 MB once a page has gone through it), and every page being
// compressed holds one. gzip is klauspost/compress's, twice as fast as the
// standard library's at the same level and ratio.
const (
	brotliQuality = 4
	brotliWindow  = 18 // log2 of the window's bytes
	gzipLevel     = 5
)

// What a page's compressor holds while the page streams, measured after a
// page has gone through it (compress_held_test.go checks the figures):
// the compressor budget counts these.
const (
	brotliHeldBytes = 1400 << 10
	gzipHeldBytes   = 1100 << 10
)

// DefaultCompressorBytes is the compressor budget when none is set: about
// 23 brotli compressors at once.
const DefaultCompressorBytes = 32 << 20

// A page's compressor holds its window and hash tables for as long as the
// page streams, mostly while the page waits for fragments: a thousand
// pages at once would hold a gigabyte. The compressors held stay within a
// budget: a page that finds none left is compressed with light gzip,
// which keeps nothing between the page's flushes (each burst of the page
// compressed on its own: 15 % to 60 % larger than gzip 5 on HTML, a
// quarter to a half of its CPU), or, for a client that takes only brotli,
// not compressed.
type compressorBudget struct {
	limit int64
	held  atomic.Int64
}

// take reserves n bytes of the budget, if they are left.
func (b *compressorBudget) take(n int64) bool {
	for {
		held := b.held.Load()
		if held+n > b.limit {
			return false
		}
		if b.held.CompareAndSwap(held, held+n) {
			return true
		}
	}
}

func (b *compressorBudget) give(n int64) { b.held.Add(-n) }

// room reports whether n bytes are left, reserving nothing.
func (b *compressorBudget) room(n int64) bool { return b.held.Load()+n <= b.limit }

var (
	gzipPool = sync.Pool{New: func() any {
		e := &pooled{}
		e.encoder, _ = gzip.NewWriterLevel(&e.sink, gzipLevel)
		return e
	}}
	brotliPool = sync.Pool{New: func() any {
		e := &pooled{}
		e.encoder = brotli.NewWriterOptions(&e.sink, brotli.WriterOptions{Quality: brotliQuality, LGWin: brotliWindow})
		return e
	}}
	lightPool = sync.Pool{New: func() any {
		e := &pooled{}
		gz, _ := gzip.NewWriterLevel(&e.sink, gzip.StatelessCompression)
		e.encoder = &burstEncoder{gz: gz}
		return e
	}}
)

// burstEncoder is light gzip: what is written until a flush is compressed
// at the flush, on its own (gzip's stateless mode), so that nothing is
// held while the page waits; a pooled buffer holds the burst meanwhile.
type burstEncoder struct {
	gz  *gzip.Writer
	buf *[]byte // nil while empty
}

// burstMax is the most a burst holds before it is compressed anyway.
const burstMax = 64 << 10

var bursts = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

func (e *burstEncoder) Write(p []byte) (int, error) {
	if e.buf != nil && len(*e.buf)+len(p) > burstMax {
		if err := e.compress(); err != nil {
			return 0, err
		}
	}
	if len(p) >= burstMax {
		// A burst of its own, not copied.
		if _, err := e.gz.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if e.buf == nil {
		e.buf = bursts.Get().(*[]byte)
	}
	*e.buf = append(*e.buf, p...)
	return len(p), nil
}

// compress sends the burst, and gives its buffer back.
func (e *burstEncoder) compress() error {
	if e.buf == nil {
		return nil
	}
	b := e.buf
	e.buf = nil
	var err error
	if len(*b) > 0 {
		_, err = e.gz.Write(*b)
	}
	*b = (*b)[:0]
	bursts.Put(b)
	return err
}

func (e *burstEncoder) Flush() error { return e.compress() }

func (e *burstEncoder) Close() error {
	if err := e.compress(); err != nil {
		return err
	}
	return e.gz.Close()
}

func (e *burstEncoder) Reset(w io.Writer) {
	if e.buf != nil {
		*e.buf = (*e.buf)[:0]
		bursts.Put(e.buf)
		e.buf = nil
	}
	e.gz.Reset(w)
}

// encoder is a compressor.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

// pooled is a pooled compressor, which writes to its sink. A Reset clears
// the compressor's hash tables (half a megabyte at these levels), once per
// page: when the compressor is taken, not again when it is put back; the
// sink is cut loose from the response instead, so that a pooled
// compressor holds no response.
type pooled struct {
	encoder
	sink sink
}

// sink passes writes to w.
type sink struct{ w io.Writer }

func (s *sink) Write(p []byte) (int, error) {
	if s.w == nil {
		return 0, io.ErrClosedPipe
	}
	return s.w.Write(p)
}

// negotiate picks "br", "gzip" or "" from an Accept-Encoding header, and
// says whether gzip is accepted too. The client's weights choose between
// the codings it accepts, brotli on a tie; a coding named with q=0 is
// refused, whatever "*" accepts (RFC 9110, section 12.5.3); a weight that
// does not parse counts as 1; the weight's name is case-insensitive.
func negotiate(accept string) (string, bool) {
	// A coding's weight as the header gives it: -1 not named, 0 refused.
	br, gz, star := -1.0, -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if w, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = min(max(w, 0), 1)
			}
		}
		var named *float64
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "br":
			named = &br
		case "gzip", "x-gzip":
			named = &gz
		case "*":
			named = &star
		default:
			continue
		}
		switch {
		case *named == 0: // a refusal by name stands
		case q == 0:
			*named = 0
		default:
			*named = max(*named, q)
		}
	}
	// A coding not named takes "*"'s weight.
	if br < 0 {
		br = star
	}
	if gz < 0 {
		gz = star
	}
	switch {
	case br > 0 && br >= gz:
		return "br", gz > 0
	case gz > 0:
		return "gzip", true
	}
	return "", false
}

// compress compresses HTML responses for clients that ask, within budget
// (compressorBudget).
func compress(budget *compressorBudget, counted func(mode string)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return &compressHandler{budget, counted, next}
	}
}

// compressHandler is the middleware: a type, not an http.HandlerFunc (see
// requestID).
type compressHandler struct {
	budget  *compressorBudget
	counted func(mode string)
	next    http.Handler
}

func (h *compressHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Encoding")
	enc, gz := negotiate(r.Header.Get("Accept-Encoding"))
	if enc == "" {
		h.next.ServeHTTP(w, r)
		return
	}
	h.serveCompressed(w, r, enc, gz)
}

// serveCompressed is ServeHTTP for a client that takes enc: in a frame of
// its own, so that an uncompressed page's stack holds none of it.
//
//go:noinline
func (h *compressHandler) serveCompressed(w http.ResponseWriter, r *http.Request, enc string, gz bool) {
	// HEAD gets the headers GET would (Content-Encoding included),
	// and no compressor: it has no body to compress.
	cw := &compressWriter{ResponseWriter: w, encoding: enc, gzip: gz, head: r.Method == http.MethodHead, budget: h.budget, counted: h.counted}
	defer func() {
		if v := recover(); v != nil {
			// An aborted page must not end as a well-formed
			// compressed stream: drop the compressor without
			// closing it.
			cw.enc = nil
			cw.giveBack()
			panic(v)
		}
		cw.finish()
	}()
	h.next.ServeHTTP(cw, r)
}

// compressWriter decides at the response's header whether to compress,
// and how.
type compressWriter struct {
	http.ResponseWriter
	encoding    string // what the client prefers: "br" or "gzip"
	gzip        bool   // the client takes gzip
	head        bool   // a HEAD request: headers only
	budget      *compressorBudget
	counted     func(mode string) // nil: not counted
	decided     bool
	enc         *pooled    // nil: pass through
	pool        *sync.Pool // enc's
	held        int64      // the budget enc holds
	wroteHeader bool
}

func (w *compressWriter) decide(status int) {
	if w.decided {
		return
	}
	w.decided = true
	h := w.Header()
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified ||
		h.Get("Content-Encoding") != "" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		return
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.Atoi(cl); err == nil && n < minCompressSize {
			return
		}
	}
	mode := w.encoding
	switch {
	case w.head:
		// Headers only: the encoding GET would get now.
		switch {
		case w.encoding == "br" && w.budget.room(brotliHeldBytes):
		case w.gzip:
			mode = "gzip"
		default:
			return
		}
	case w.encoding == "br" && w.budget.take(brotliHeldBytes):
		w.pool, w.held = &brotliPool, brotliHeldBytes
	case w.gzip && w.budget.take(gzipHeldBytes):
		mode, w.pool, w.held = "gzip", &gzipPool, gzipHeldBytes
	case w.gzip:
		mode, w.pool = "gzip_light", &lightPool
	default:
		// Only brotli, and no budget left for it.
		if w.counted != nil {
			w.counted("none")
		}
		return
	}
	h.Del("Content-Length")
	// A strong validator names the uncompressed bytes: this answer is
	// another representation (RFC 9110, section 8.8.3).
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et)
	}
	if mode == "br" {
		h.Set("Content-Encoding", "br")
	} else {
		h.Set("Content-Encoding", "gzip")
	}
	if w.head {
		return
	}
	if w.counted != nil {
		w.counted(mode)
	}
	w.enc = w.pool.Get().(*pooled)
	w.enc.sink.w = w.ResponseWriter
	w.enc.Reset(&w.enc.sink)
}

// giveBack returns the budget the compressor held.
func (w *compressWriter) giveBack() {
	if w.held > 0 {
		w.budget.give(w.held)
		w.held = 0
	}
}

func (w *compressWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.decide(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *compressWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc == nil {
		return w.ResponseWriter.Write(p)
	}
	return w.enc.Write(p)
}

// Flush pushes what the compressor holds to the client (a sync flush),
// then flushes the connection.
func (w *compressWriter) Flush() {
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return
		}
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish ends the compressed stream, returns the compressor to its pool,
// and its memory to the budget.
func (w *compressWriter) finish() {
	if w.enc == nil {
		return
	}
	_ = w.enc.Close()
	w.enc.sink.w = nil
	w.pool.Put(w.enc)
	w.enc = nil
	w.giveBack()
}
