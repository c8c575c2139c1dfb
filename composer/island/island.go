// Package island is the composer's signed island request: the URL a
// client slot's script fetches its fragment from, and the check that the
// composer wrote it.
//
//	page (composed, cached by the CDN for everyone)
//	  client slot --> fallback in place + island script + URL signed here
//	browser --GET Path?f=..&t=..&s=..&p=..&r=..&q=..&e=..&k=..&sig=..--> composer
//	  Verify (MAC, key, expiry) --> the template's slot still names f --> fetch, guard --> JSON
//
// What is signed is exactly what the slot would have had server-side: the
// fragment id, the template and slot (the slot identity the fragment sees
// as Mfe-Slot), the page's path, its route parameters and its query as the
// composer passes it on, and an expiry. The MAC is HMAC-SHA256 under the
// key named by k in a ring of keys, so that keys rotate: every task
// accepts the ring, one key of it signs. The island key is a secret of its
// own; never the override key nor one derived from it.
//
// Signing is not sanitising: the composer signs whatever query a visitor
// sent. The HTML guard stays the defence for the markup, and the answer is
// never a page (see the server's island handler).
package island

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Path is where island requests go. It is the composer's, beside the
// routes of the templates.
const Path = "/_mfe/island"

// MinKeyLen is the shortest island key accepted, in bytes.
const MinKeyLen = 32

// The query parameters of an island URL, all signed.
const (
	pFragment = "f"
	pTemplate = "t"
	pSlot     = "s"
	pPath     = "p"
	pParams   = "r"
	pQuery    = "q"
	pExpires  = "e"
	pKey      = "k"
	pSig      = "sig"
)

var signed = []string{pKey, pFragment, pTemplate, pSlot, pPath, pParams, pQuery, pExpires}

// Claims is what an island request asks for, as the page's composer saw it.
type Claims struct {
	Fragment string
	Template string // the template's name
	Slot     int    // the slot's index in the template (Mfe-Slot "s<Slot>")
	Path     string // the page's escaped path
	Params   map[string]string
	Query    string // the page query every fragment of the page got
	Expires  time.Time
}

// Errors of Verify. The server answers each the same way and logs which.
var (
	ErrUnsigned   = errors.New("island request is not signed")
	ErrMalformed  = errors.New("island request is malformed")
	ErrUnknownKey = errors.New("island request is signed by a key not in the ring")
	ErrForged     = errors.New("island request's signature does not match")
	ErrExpired    = errors.New("island request has expired")
)

var keyID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Ring is the set of island keys a composer accepts, and the one it signs
// with.
type Ring struct {
	signID string
	keys   map[string][]byte
}

// NewRing checks keys (id to secret) and the id of the one that signs.
// Its errors never hold a secret.
func NewRing(signID string, keys map[string][]byte) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no island keys")
	}
	for id, k := range keys {
		if !keyID.MatchString(id) {
			return nil, fmt.Errorf("island key id %q: want 1 to 32 of A-Z a-z 0-9 _ . -", id)
		}
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("island key %q: %d bytes, want at least %d (e.g. the output of openssl rand -base64 48)", id, len(k), MinKeyLen)
		}
	}
	if _, ok := keys[signID]; !ok {
		return nil, fmt.Errorf("island signing key id %q is not one of the keys", signID)
	}
	r := &Ring{signID: signID, keys: make(map[string][]byte, len(keys))}
	for id, k := range keys {
		r.keys[id] = append([]byte(nil), k...)
	}
	return r, nil
}

// Holds reports whether secret is one of the ring's keys (the settings
// refuse an island key equal to the override key).
func (r *Ring) Holds(secret []byte) bool {
	for _, k := range r.keys {
		if hmac.Equal(k, secret) {
			return true
		}
	}
	return false
}

// URL is the island request for c, signed by the ring's signing key: a
// path and query on the composer's own origin.
func (r *Ring) URL(c Claims) string {
	v := c.values(r.signID)
	v.Set(pSig, r.mac(r.keys[r.signID], v))
	// Encode sorts by name; the order is not part of the signature.
	return Path + "?" + v.Encode()
}

func (c Claims) values(kid string) url.Values {
	params := url.Values{}
	for k, val := range c.Params {
		params.Set(k, val)
	}
	return url.Values{
		pKey:      {kid},
		pFragment: {c.Fragment},
		pTemplate: {c.Template},
		pSlot:     {strconv.Itoa(c.Slot)},
		pPath:     {c.Path},
		pParams:   {params.Encode()},
		pQuery:    {c.Query},
		pExpires:  {strconv.FormatInt(c.Expires.Unix(), 10)},
	}
}

// mac is the base64url HMAC-SHA256 of the signed values, each prefixed
// by its length, so that no two sets of values share a message.
func (r *Ring) mac(key []byte, v url.Values) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mfe-island-v1"))
	for _, name := range signed {
		val := v.Get(name)
		m.Write([]byte("\n" + name + strconv.Itoa(len(val)) + ":" + val))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks an island request's query, signed by URL, at now. Every
// signed parameter must be there once and nothing else but the names in
// unsigned (the debug view's). The MAC is checked in constant time before
// any claim is read, then the expiry.
func (r *Ring) Verify(rawQuery string, now time.Time, unsigned ...string) (Claims, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if len(v[pSig]) == 0 {
		return Claims{}, ErrUnsigned
	}
	for name, vals := range v {
		if name != pSig && !contains(signed, name) && !contains(unsigned, name) || len(vals) != 1 {
			return Claims{}, ErrMalformed
		}
	}
	for _, name := range signed {
		if len(v[name]) != 1 {
			return Claims{}, ErrMalformed
		}
	}
	// One URL per island: the query must be spelt as URL spells it (the
	// unsigned names aside), so that no other spelling of the same claims
	// passes a CDN's cache or fills it with copies.
	canon := url.Values{}
	for _, name := range append([]string{pSig}, signed...) {
		canon[name] = v[name]
	}
	var rest []string
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if name, _, _ := strings.Cut(pair, "="); !contains(unsigned, name) {
			rest = append(rest, pair)
		}
	}
	if strings.Join(rest, "&") != canon.Encode() {
		return Claims{}, ErrMalformed
	}
	key, ok := r.keys[v.Get(pKey)]
	if !ok {
		return Claims{}, ErrUnknownKey
	}
	if !hmac.Equal([]byte(r.mac(key, v)), []byte(v.Get(pSig))) {
		return Claims{}, ErrForged
	}
	exp, err := strconv.ParseInt(v.Get(pExpires), 10, 64)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if now.Unix() > exp {
		return Claims{}, ErrExpired
	}
	slot, err := strconv.Atoi(v.Get(pSlot))
	if err != nil || slot < 0 {
		return Claims{}, ErrMalformed
	}
	pv, err := url.ParseQuery(v.Get(pParams))
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var params map[string]string
	if len(pv) > 0 {
		params = make(map[string]string, len(pv))
		for k := range pv {
			params[k] = pv.Get(k)
		}
	}
	return Claims{
		Fragment: v.Get(pFragment),
		Template: v.Get(pTemplate),
		Slot:     slot,
		Path:     v.Get(pPath),
		Params:   params,
		Query:    v.Get(pQuery),
		Expires:  time.Unix(exp, 0),
	}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Lifetime is how long an island URL written into a page whose
// Cache-Control is cc must stay good: as long as any cache may hand the
// page out, max(max-age, s-maxage) + max(stale-while-revalidate,
// stale-if-error), plus skew for the clocks of the tasks that verify it;
// and never less than min (a page no cache keeps is still read, and its
// islands fetched, a little after it is written).
func Lifetime(cc string, min, skew time.Duration) time.Duration {
	var age, stale time.Duration
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
		if err != nil || n < 0 {
			continue
		}
		sec := time.Duration(n) * time.Second
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "max-age", "s-maxage":
			age = max(age, sec)
		case "stale-while-revalidate", "stale-if-error":
			stale = max(stale, sec)
		}
	}
	return max(age+stale, min) + skew
}

// Keys parses a key ring setting: comma-separated id=secret pairs (the
// secret is everything after the first "=", so base64 padding stays).
// Surrounding whitespace is trimmed. Its errors never hold a secret.
func Keys(s string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		id, secret, ok := strings.Cut(pair, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, errors.New("want comma-separated id=secret pairs")
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("island key id %q given twice", id)
		}
		keys[id] = []byte(strings.TrimSpace(secret))
	}
	return keys, nil
}

// IDs lists the ring's key ids, sorted (for the start-up line).
func (r *Ring) IDs() []string {
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// SigningID is the id of the key that signs.
func (r *Ring) SigningID() string { return r.signID }
