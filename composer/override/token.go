// Package override is the signed per-request fragment override: a token
// that, for the requests that carry it, points fragment ids at other
// endpoints (a team's preview build) and may turn on the debug view.
//
// A token is two base64url parts joined by a dot: the claims (JSON: the
// overrides, the debug flag, the expiry) and an HMAC-SHA256 of the first
// part under the operator's key. Verify checks the MAC in constant time
// before it reads the claims, then the expiry. Anything else (no dot,
// bad encoding, a wrong MAC, an expired or malformed token) is an error,
// and the caller ignores the token without telling the visitor why.
package override

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// MinKeyLen is the shortest key accepted, in bytes.
const MinKeyLen = 32

// MaxTTL is the longest life a token may have: `composer override`
// signs none longer, and Verify refuses one that expires later than
// MaxTTL (and a clock skew's margin) from now, so that no signer holding
// the key makes a token that only a new key revokes.
const MaxTTL = 7 * 24 * time.Hour

// clockSkew is the margin Verify allows beyond MaxTTL: the signer's clock
// may run ahead of the server's.
const clockSkew = 5 * time.Minute

// MaxTokenLen bounds a token read from a request: a longer one is
// refused before any work.
const MaxTokenLen = 4096

// Header and Cookie are where a request carries its token.
const (
	Header = "Mfe-Override"
	Cookie = "mfe-override"
)

// Token is what a verified token grants.
type Token struct {
	// Fragments maps a fragment id to the http(s) URL that replaces its
	// registry endpoint.
	Fragments map[string]string `json:"f,omitempty"`
	// Debug allows the debug view (?_debug=1).
	Debug bool `json:"d,omitempty"`
	// Expires is when the token stops working.
	Expires time.Time `json:"e"`
}

// Errors of Verify and Sign.
var (
	ErrShortKey  = fmt.Errorf("override key: at least %d bytes", MinKeyLen)
	ErrMalformed = errors.New("override token: malformed")
	ErrSignature = errors.New("override token: wrong signature")
	ErrExpired   = errors.New("override token: expired")
)

// CheckURL tells whether u can be an override's endpoint: an absolute
// http or https URL with a host and no user information.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" || p.User != nil || p.Opaque != "" {
		return fmt.Errorf("%q: want an http or https URL with a host (and no user information)", u)
	}
	return nil
}

// Sign returns t as a token signed with key.
func Sign(key []byte, t Token) (string, error) {
	if len(key) < MinKeyLen {
		return "", ErrShortKey
	}
	for id, u := range t.Fragments {
		if id == "" {
			return "", errors.New("override: empty fragment id")
		}
		if err := CheckURL(u); err != nil {
			return "", fmt.Errorf("override %s: %w", id, err)
		}
	}
	t.Expires = t.Expires.UTC().Truncate(time.Second)
	claims, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(claims)
	tok := body + "." + base64.RawURLEncoding.EncodeToString(mac(key, body))
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("override token: %d bytes, more than the %d a request may carry", len(tok), MaxTokenLen)
	}
	return tok, nil
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Verify checks tok's signature under key and its expiry at now, and
// returns what it grants.
func Verify(key []byte, tok string, now time.Time) (*Token, error) {
	if len(key) < MinKeyLen {
		return nil, ErrShortKey
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(tok) > MaxTokenLen {
		return nil, ErrMalformed
	}
	body, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, ErrMalformed
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return nil, ErrMalformed
	}
	if !hmac.Equal(got, mac(key, body)) {
		return nil, ErrSignature
	}
	claims, err := b64.DecodeString(body)
	if err != nil {
		return nil, ErrMalformed
	}
	var t Token
	if err := json.Unmarshal(claims, &t); err != nil || t.Expires.IsZero() {
		return nil, ErrMalformed
	}
	for id, u := range t.Fragments {
		if id == "" || CheckURL(u) != nil {
			return nil, ErrMalformed
		}
	}
	if !now.Before(t.Expires) {
		return nil, ErrExpired
	}
	if t.Expires.Sub(now) > MaxTTL+clockSkew {
		return nil, ErrMalformed // not made by composer override
	}
	return &t, nil
}

// b64 decodes a token's parts: strictly, so that a token has one
// spelling (the unused bits of a last character must be zero).
var b64 = base64.RawURLEncoding.Strict()

type ctxKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the verified token of a request, or nil.
func FromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(ctxKey{}).(*Token)
	return t
}

// Endpoint returns the override of fragment id, if t has one.
func (t *Token) Endpoint(id string) (string, bool) {
	if t == nil {
		return "", false
	}
	u, ok := t.Fragments[id]
	return u, ok
}
