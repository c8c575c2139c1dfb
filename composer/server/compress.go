package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
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
// compressed holds one.
const (
	brotliQuality = 4
	brotliWindow  = 18 // log2 of the window's bytes
	gzipLevel     = 5
)

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
)

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

// negotiate picks "br", "gzip" or "" from an Accept-Encoding header,
// honouring q=0.
func negotiate(accept string) string {
	br, gz := false, false
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v <= 0 {
				continue
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			br, gz = true, true
		}
	}
	switch {
	case br:
		return "br"
	case gz:
		return "gzip"
	}
	return ""
}

// compress compresses HTML responses for clients that ask.
func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		enc := negotiate(r.Header.Get("Accept-Encoding"))
		if enc == "" {
			next.ServeHTTP(w, r)
			return
		}
		// HEAD gets the headers GET would (Content-Encoding included), and
		// no compressor: it has no body to compress.
		cw := &compressWriter{ResponseWriter: w, encoding: enc, head: r.Method == http.MethodHead}
		defer func() {
			if v := recover(); v != nil {
				// An aborted page must not end as a well-formed compressed
				// stream: drop the compressor without closing it.
				cw.enc = nil
				panic(v)
			}
			cw.finish()
		}()
		next.ServeHTTP(cw, r)
	})
}

// compressWriter decides at the response's header whether to compress.
type compressWriter struct {
	http.ResponseWriter
	encoding    string
	head        bool // a HEAD request: headers only
	decided     bool
	enc         *pooled // nil: pass through
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
	h.Del("Content-Length")
	h.Set("Content-Encoding", w.encoding)
	if w.head {
		return
	}
	if w.encoding == "br" {
		w.enc = brotliPool.Get().(*pooled)
	} else {
		w.enc = gzipPool.Get().(*pooled)
	}
	w.enc.sink.w = w.ResponseWriter
	w.enc.Reset(&w.enc.sink)
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

// finish ends the compressed stream and returns the compressor to its pool.
func (w *compressWriter) finish() {
	if w.enc == nil {
		return
	}
	_ = w.enc.Close()
	w.enc.sink.w = nil
	if w.encoding == "br" {
		brotliPool.Put(w.enc)
	} else {
		gzipPool.Put(w.enc)
	}
	w.enc = nil
}
