// Package forwarded reads what a request's forwarding proxies say about
// it: whether the visitor's request came over HTTPS, for the Secure flag of
// the cookies the composer sets (the canary version's, the override
// page's).
package forwarded

import (
	"net/http"
	"strings"
)

// Secure reports whether r came over HTTPS: to this server, or to
// the load balancer or CDN in front (X-Forwarded-Proto,
// CloudFront-Forwarded-Proto, or the proto of RFC 7239's Forwarded; of a
// list, the first element, the one the front nearest the client added).
// A client that claims it falsely only gets a Secure cookie its
// plain-HTTP page cannot keep, and must send an https Origin.
func Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https") ||
		strings.EqualFold(r.Header.Get("CloudFront-Forwarded-Proto"), "https") ||
		strings.EqualFold(forwardedProto(r.Header.Get("Forwarded")), "https")
}

// forwardedProto is the proto parameter of the first element of a
// Forwarded header (RFC 7239: elements separated by commas, parameters by
// semicolons, values tokens or quoted strings), or "".
func forwardedProto(v string) string {
	for {
		var pair string
		var end byte
		pair, v, end = forwardedPair(v)
		name, value, _ := strings.Cut(pair, "=")
		if strings.EqualFold(strings.TrimSpace(name), "proto") {
			return unquote(strings.TrimSpace(value))
		}
		if end != ';' {
			return ""
		}
	}
}

// forwardedPair splits v at its first ';' or ',' outside a quoted string:
// the pair before it, the rest after it and the separator (0 at the end).
func forwardedPair(v string) (pair, rest string, sep byte) {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ';' || c == ','):
			return v[:i], v[i+1:], c
		}
	}
	return v, "", 0
}

// unquote is v without the quotes of a quoted string, and its escapes.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
