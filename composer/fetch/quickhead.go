package fetch

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
)

// quickHead reads an answer's head of the plain kind from the bytes
// already buffered, in a few allocations (the head as one string, the
// header map; the values go in q, up to eight): HTTP/1.1, a final status
// with a body, well-formed header lines, and one Content-Length or
// Transfer-Encoding: chunked. Anything else (a 1xx, 204 or 304,
// HTTP/1.0, a body ended by the close, a Pragma or Trailer header, which
// net/http rewrites, a line it would refuse, a head longer than the
// buffer) is left unread, ok false, for http.ReadResponse: its answers
// are the reference (quickhead_test.go compares the two).
//
// body is set on q (cl or chunked) for a head it read.
func (q *quickBody) quickHead(br *bufio.Reader) (status int, header http.Header, closing, ok bool) {
	if _, err := br.Peek(1); err != nil {
		return 0, nil, false, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 || !bytes.HasPrefix(buf, []byte("HTTP/1.1 ")) || len(buf) < 13 {
		return 0, nil, false, false
	}
	// Status line: "HTTP/1.1 200 OK\r\n" (a reason, or none).
	line, rest, _ := bytes.Cut(buf[:end+2], []byte("\r\n"))
	if len(line) < 12 || len(line) > 12 && line[12] != ' ' {
		return 0, nil, false, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, nil, false, false
		}
		status = status*10 + int(c-'0')
	}
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		return 0, nil, false, false
	}
	for _, c := range line[12:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, nil, false, false
		}
	}
	// A bare LF needs no search of its own: it is a control byte inside
	// a line (in a name, a value or the reason), which the checks below
	// refuse. So the lines are at most the LFs.
	lines := bytes.Count(rest, []byte("\n"))
	block := string(rest) // the one copy: names and values are parts of it
	header = make(http.Header, lines)
	// The names seen, to tell a repeated one without a lookup in the map
	// (a usual head has a few).
	var seen [8]string
	// The values' array: the answer's own for a usual head.
	var values []string
	if lines <= len(q.values) {
		values = q.values[:lines:lines]
	} else {
		values = make([]string, lines)
	}
	length, lengths, chunked, encodings := int64(-1), 0, false, 0
	for i := 0; block != ""; i++ {
		var l string
		l, block, _ = strings.Cut(block, "\r\n")
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			return 0, nil, false, false // folded, or empty inside the head
		}
		name, value, found := strings.Cut(l, ":")
		if !found || !validHeaderName(name) {
			return 0, nil, false, false
		}
		value = trimOWS(value)
		for j := 0; j < len(value); j++ {
			if c := value[j]; c < ' ' && c != '\t' || c == 0x7f {
				return 0, nil, false, false
			}
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Content-Length":
			lengths++
			if length = parseLength(value); length < 0 {
				return 0, nil, false, false
			}
		case "Transfer-Encoding":
			encodings++
			if !strings.EqualFold(value, "chunked") {
				return 0, nil, false, false
			}
			chunked = true
			continue // net/http keeps it out of the header
		case "Connection":
			for token := range strings.SplitSeq(value, ",") {
				if strings.EqualFold(trimOWS(token), "close") {
					closing = true
				}
			}
		case "Pragma", "Trailer":
			return 0, nil, false, false
		}
		values[i] = value
		dup := i >= len(seen)
		for j := 0; j < i && j < len(seen) && !dup; j++ {
			dup = seen[j] == key
		}
		if i < len(seen) {
			seen[i] = key
		}
		if dup {
			if v, ok := header[key]; ok {
				header[key] = append(v, value)
				continue
			}
		}
		header[key] = values[i : i+1 : i+1]
	}
	switch {
	case chunked && (lengths > 0 || encodings > 1), !chunked && lengths != 1:
		return 0, nil, false, false
	}
	if closing {
		delete(header, "Connection") // as net/http does
	}
	br.Discard(end + 4)
	if chunked {
		q.chunked = chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
		q.body = &q.chunked
	} else {
		q.cl = lengthBody{r: br, n: length}
		q.body = &q.cl
	}
	return status, header, closing, true
}

// parseLength is a Content-Length's value, or -1.
func parseLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// quickBody holds the body reader quickHead chose, in the answer's own
// allocation.
type quickBody struct {
	body    io.Reader
	cl      lengthBody
	chunked chunkedBody
	// values holds a usual head's header values (the map's slices are
	// parts of it), so that they cost no allocation of their own.
	values [8]string
}

// lengthBody is a body of n bytes: io.EOF with its last bytes, and an
// unexpected EOF if the connection ends before.
type lengthBody struct {
	r io.Reader
	n int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	switch {
	case b.n == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedBody is a chunked body, its trailer section read (and dropped)
// before io.EOF, so that the connection is at the next answer.
type chunkedBody struct {
	br *bufio.Reader
	r  io.Reader
}

var errTrailer = errors.New("malformed chunked trailer section")

func (b *chunkedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != io.EOF {
		return n, err
	}
	// The trailer section: lines up to an empty one, bounded.
	for read := 0; ; {
		line, err := b.br.ReadSlice('\n')
		read += len(line)
		switch {
		case err == io.EOF:
			return n, io.ErrUnexpectedEOF
		case err != nil:
			return n, err
		case read > wireMaxHeaderBytes || !bytes.HasSuffix(line, []byte("\r\n")):
			return n, errTrailer
		case len(line) == 2:
			return n, io.EOF
		}
	}
}
