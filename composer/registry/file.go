package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ReadFile reads a registry file: a JSON object from fragment id to entry.
// Only a regular file is read (a FIFO would wait for a writer); every
// error is "path: message".
func ReadFile(path string) ([]Raw, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the registry file: %w", path, unwrapPath(err))
	}
	switch {
	case st.IsDir():
		return nil, fmt.Errorf("%s: is a directory: want a registry file, a JSON object from fragment id to entry", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file: only regular files are read", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the registry file: %w", path, unwrapPath(err))
	}
	return ParseFile(path, data)
}

// unwrapPath is a *fs.PathError's cause, whose message would repeat the
// path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FileError is a registry file that is not a JSON object from fragment id
// to entry, at a line and column.
type FileError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ParseFile splits the content of a registry file into its entries, each
// with its line; path is used in messages. The entries themselves are
// parsed by Update. A file that is not a JSON object of unique ids gives a
// *FileError.
func ParseFile(path string, data []byte) ([]Raw, error) {
	fail := func(off int64, format string, args ...any) error {
		line, col := position(data, off)
		return &FileError{File: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
	}
	syntax := func(dec *json.Decoder, err error) error {
		// A Decoder's offsets are relative to the value it was reading;
		// the whole file, read at once, says where it breaks.
		var whole any
		var se *json.SyntaxError
		switch {
		case errors.As(json.Unmarshal(data, &whole), &se) && !strings.Contains(se.Error(), "unexpected end"):
			off, msg := syntaxMessage(data, se)
			return fail(off, "%s", msg)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fail(int64(len(data)), "the file ends inside the object: is it complete (a missing } or \")?")
		}
		return fail(dec.InputOffset(), "%v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail(0, "the file is empty: want a JSON object from fragment id to entry")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	start := skipSpace(data, 0)
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(dec, err)
	}
	if tok != json.Delim('{') {
		return nil, fail(start, `want a JSON object from fragment id to entry, e.g. {"reviews": "https://reviews.internal/fragment"}`)
	}
	var raws []Raw
	seen := map[string]bool{}
	for dec.More() {
		keyAt := skipSpace(data, dec.InputOffset())
		keyTok, err := dec.Token()
		if err != nil {
			return nil, syntax(dec, err)
		}
		id, _ := keyTok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntax(dec, err)
		}
		if seen[id] {
			return nil, fail(keyAt, "fragment id %q given twice", id)
		}
		seen[id] = true
		line, _ := position(data, keyAt)
		raws = append(raws, Raw{ID: id, From: fmt.Sprintf("%s: %q", path, id), Data: v, File: path, Line: line})
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail(skipSpace(data, dec.InputOffset()), "data after the registry object")
	}
	sort.Slice(raws, func(i, j int) bool { return raws[i].ID < raws[j].ID })
	return raws, nil
}

// syntaxMessage says where a JSON syntax error is, what was found there and
// what the file needed, naming the usual slip (a trailing or missing comma,
// a missing quote, single quotes) where the bytes point to one. A trailing
// comma is placed at the comma. Other errors keep encoding/json's words.
func syntaxMessage(data []byte, se *json.SyntaxError) (int64, string) {
	off := se.Offset - 1
	if off < 0 || off >= int64(len(data)) {
		return off, se.Error()
	}
	c := data[off]
	found := "invalid character " + quoteByte(c)
	prevAt := off - 1
	for prevAt >= 0 && strings.IndexByte(" \t\r\n", data[prevAt]) >= 0 {
		prevAt--
	}
	var prev byte
	if prevAt >= 0 {
		prev = data[prevAt]
	}
	msg := se.Error()
	switch {
	case strings.HasSuffix(msg, "looking for beginning of object key string"):
		switch {
		case prev == ',' && c == '}':
			return prevAt, "a trailing comma: JSON allows none after the last entry; remove it"
		case c == '\'':
			return off, found + " where a fragment id was expected: JSON strings take double quotes"
		}
		return off, found + " where a fragment id in double quotes was expected"
	case strings.HasSuffix(msg, "looking for beginning of value"):
		switch {
		case prev == ',' && (c == ']' || c == '}'):
			what := "element"
			if c == '}' {
				what = "field"
			}
			return prevAt, "a trailing comma: JSON allows none after the last " + what + "; remove it"
		case c == '\'':
			return off, found + " where a value was expected: JSON strings take double quotes"
		}
		return off, found + " where a value was expected: a string in double quotes, an object, an array, a number, true, false or null"
	case strings.HasSuffix(msg, "after object key"):
		key := ""
		if prev == '"' {
			if start := bytes.LastIndexByte(data[:prevAt], '"'); start >= 0 {
				key = fmt.Sprintf(" %q", data[start+1:prevAt])
			}
		}
		hint := ""
		if c == '"' || isWordByte(c) {
			hint = " (a missing '\"' closing the id?)"
		}
		return off, fmt.Sprintf("%s after the fragment id%s: expected ':'%s", found, key, hint)
	case strings.HasSuffix(msg, "after object key:value pair"):
		line, _ := position(data, max(prevAt, 0))
		return off, fmt.Sprintf("%s after an entry: expected ',' or '}' after an object value (a missing ',' at the end of line %d?)", found, line)
	case strings.HasSuffix(msg, "after array element"):
		return off, found + " after an array element: expected ',' or ']'"
	case strings.HasSuffix(msg, "in string literal") && (c == '\n' || c == '\r'):
		return off, "a line break inside a string: expected '\"' to end it (a missing closing '\"'?)"
	}
	return off, msg
}

// quoteByte writes b as encoding/json's messages do: '}', '\n'.
func quoteByte(b byte) string { return strconv.QuoteRune(rune(b)) }

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// skipSpace returns the offset of the first byte at or after off that is
// not white space or a separator.
func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,:", data[off]) >= 0 {
		off++
	}
	return off
}

// position gives the 1-based line and column (in bytes) of offset off.
func position(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
