// Package registry maps fragment ids to endpoints: the service registry
// that fragment teams register in.
//
// Data flow:
//
//	source (JSON file, SSM, demo) --[]Raw--> Registry.Update --> Lookup(id) Entry
//
// Update publishes a new snapshot atomically. An entry that does not parse
// is reported and skipped, and the last good copy of it stays in use, so a
// typo by one team never takes another team's fragment off a page.
package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one fragment's registration.
type Entry struct {
	Endpoint       string
	Timeout        time.Duration // 0: the template's or the server's default
	Assets         Assets
	ForwardHeaders []string // canonical header names, beyond the defaults
	Versions       []Version
	// SetCookie lets the fragment's Set-Cookie headers through to the page,
	// and only when the fragment is required (errorbehaviour="error").
	SetCookie bool
	// Loader is "lambda" when Endpoint (and the versions' endpoints) may be
	// bare Lambda function names; "" when every endpoint is a URL or an ARN,
	// whose form says its transport.
	Loader string
	// Breaker overrides the circuit breaker's rule for this fragment (each
	// version has a breaker of its own, with this rule); the zero value is
	// the defaults. See package breaker and docs/resilience.md.
	Breaker Breaker
	// MaxConcurrency caps this fragment's requests in flight, per version,
	// in this process (the bulkhead); 0 is no cap.
	MaxConcurrency int
	// Hedge is the entry's hedged-request rule (each version hedges on its
	// own, with this rule); the zero value is off. See package hedge.
	Hedge Hedge
	// Podium, if set, sends Podium's context headers to the fragment.
	Podium *Podium
	// TrustScripts lets every script of the fragment's markup run, as if
	// its answer vouched for each: for a fragment that cannot send a
	// Content-Security-Policy with a nonce or hashes. A script injected
	// into its markup from a visitor's input then runs too: composer
	// validate lists the entries that set it.
	TrustScripts bool
}

// Podium is an entry's opt-in to Podium's context headers ("podium": true,
// or an object of these). Every value is one the CDN sees: a header it
// does not key on never splits one visitor's page from another's.
type Podium struct {
	// Locale is podium-locale; "" takes the first language of
	// Accept-Language when the CDN keys on that header, else "en-US".
	Locale string `json:"locale,omitempty"`
	// DeviceType is podium-device-type ("desktop", "mobile", "tablet");
	// "" reads CloudFront's viewer headers the CDN keys on, else "desktop".
	DeviceType string `json:"deviceType,omitempty"`
	// MountPathname sends the page's path as podium-mount-pathname (the
	// fragment cache then keys on the path).
	MountPathname bool `json:"mountPathname,omitempty"`
	// PublicPathname is podium-public-pathname; "" is "/".
	PublicPathname string `json:"publicPathname,omitempty"`
}

// parsePodium reads "podium": true, false, or an object.
func parsePodium(raw json.RawMessage) (*Podium, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "false":
		return nil, nil
	case string(raw) == "true":
		return &Podium{}, nil
	case raw[0] != '{':
		return nil, errors.New(`podium: want true, or an object such as {"locale": "en-US", "deviceType": "desktop", "mountPathname": true, "publicPathname": "/"}`)
	}
	if err := refuseNull(raw, "podium: "); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p Podium
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%v (want locale, deviceType, mountPathname, publicPathname)", forAuthors(err, "podium"))
	}
	if p.Locale != "" && !validLocale(p.Locale) {
		return nil, fmt.Errorf("podium: locale %q: want a language tag such as en-US", p.Locale)
	}
	switch p.DeviceType {
	case "", "desktop", "mobile", "tablet":
	default:
		return nil, fmt.Errorf(`podium: deviceType %q: want "desktop", "mobile" or "tablet"`, p.DeviceType)
	}
	if p.PublicPathname != "" && (!strings.HasPrefix(p.PublicPathname, "/") || strings.ContainsFunc(p.PublicPathname, func(r rune) bool { return r < 0x21 || r > 0x7e })) {
		return nil, fmt.Errorf("podium: publicPathname %q: want a path starting with /", p.PublicPathname)
	}
	return &p, nil
}

// validLocale accepts a language tag as a header may carry it: letters,
// digits and "-", up to 35 characters.
func validLocale(s string) bool {
	if s == "" || len(s) > 35 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidLocale reports whether s may be sent as podium-locale.
func ValidLocale(s string) bool { return validLocale(s) }

// Breaker is an entry's circuit breaker rule. A zero field takes the
// default of package breaker.
type Breaker struct {
	Off         bool          // "breaker": "off": never opens
	FailureRate float64       // the share of failures that opens it, (0, 1]
	MinRequests int           // the fewest finished requests in Window that can open it
	Window      time.Duration // the rolling window the requests are counted over
	OpenFor     time.Duration // how long it stays open before one probe may go
	// ConsecutiveFailures opens it after that many failures in a row,
	// whatever the rate and the volume.
	ConsecutiveFailures int
	// MaxOpenFor caps the open time, which doubles from OpenFor each time
	// a probe fails (no success in between).
	MaxOpenFor time.Duration
}

// jsonBreaker is the object form of "breaker".
type jsonBreaker struct {
	FailureRate *float64 `json:"failureRate,omitempty"`
	MinRequests *int     `json:"minRequests,omitempty"`
	Window      string   `json:"window,omitempty"`
	OpenFor     string   `json:"openFor,omitempty"`

	ConsecutiveFailures *int   `json:"consecutiveFailures,omitempty"`
	MaxOpenFor          string `json:"maxOpenFor,omitempty"`
}

// parseBreaker reads "breaker": "off", or an object of overrides.
func parseBreaker(raw json.RawMessage) (Breaker, error) {
	var b Breaker
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return b, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "off" {
			return b, fmt.Errorf(`breaker: %s: want "off" or an object such as {"failureRate": 0.5, "minRequests": 20, "window": "10s", "openFor": "1s"}`, raw)
		}
		b.Off = true
		return b, nil
	}
	if raw[0] != '{' {
		kind := jsonKind(raw)
		if kind == "" {
			kind = "value"
		}
		return b, fmt.Errorf(`breaker: a JSON %s; want "off" or an object such as {"failureRate": 0.5, "minRequests": 20, "window": "10s", "openFor": "1s"}`, kind)
	}
	if err := refuseNull(raw, ""); err != nil {
		return b, fmt.Errorf("breaker: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var j jsonBreaker
	if err := dec.Decode(&j); err != nil {
		return b, fmt.Errorf(`%v (want "off" or an object with failureRate, minRequests, consecutiveFailures, window, openFor, maxOpenFor)`, forAuthors(err, "breaker"))
	}
	if j.FailureRate != nil {
		if r := *j.FailureRate; !(r > 0 && r <= 1) {
			return b, fmt.Errorf("breaker: failureRate %v: want a share above 0 and at most 1, such as 0.5", r)
		}
		b.FailureRate = *j.FailureRate
	}
	if j.MinRequests != nil {
		if n := *j.MinRequests; n < 1 || n > 1_000_000 {
			return b, fmt.Errorf("breaker: minRequests %d: want 1 to 1000000", n)
		}
		b.MinRequests = *j.MinRequests
	}
	duration := func(name, v string, lo, hi time.Duration, dst *time.Duration) error {
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("breaker: %s %q: want a Go duration from %s to %s", name, v, lo, hi)
		}
		*dst = d
		return nil
	}
	if err := duration("window", j.Window, time.Second, 10*time.Minute, &b.Window); err != nil {
		return b, err
	}
	if err := duration("openFor", j.OpenFor, 100*time.Millisecond, 10*time.Minute, &b.OpenFor); err != nil {
		return b, err
	}
	if j.ConsecutiveFailures != nil {
		if n := *j.ConsecutiveFailures; n < 1 || n > 1_000_000 {
			return b, fmt.Errorf("breaker: consecutiveFailures %d: want 1 to 1000000 (failures in a row that open it)", n)
		}
		b.ConsecutiveFailures = *j.ConsecutiveFailures
	}
	if err := duration("maxOpenFor", j.MaxOpenFor, 100*time.Millisecond, time.Hour, &b.MaxOpenFor); err != nil {
		return b, err
	}
	if b.MaxOpenFor > 0 && b.OpenFor > b.MaxOpenFor {
		return b, fmt.Errorf("breaker: maxOpenFor %q is below openFor %q: the open time starts at openFor and grows up to maxOpenFor", j.MaxOpenFor, j.OpenFor)
	}
	return b, nil
}

// LoaderLambda is the one loader an entry may name: its endpoints are
// Lambda functions, possibly by bare name.
const LoaderLambda = "lambda"

// Assets are the files a fragment needs, known before it answers, so that
// the page head can load them early.
type Assets struct {
	CSS []string `json:"css,omitempty"`
	JS  []string `json:"js,omitempty"` // the scripts' URLs, in order
	// Scripts holds, by URL, what an object in "js" says of its script
	// beyond its src; a URL written as a string has none (a classic
	// script, deferred).
	Scripts map[string]Script `json:"-"`
}

// Script is how a registry script is loaded: the attributes of its
// <script> element beyond src.
type Script struct {
	Type        string `json:"type,omitempty"` // "" (classic) or "module"
	Async       bool   `json:"async,omitempty"`
	Defer       bool   `json:"defer,omitempty"`
	Crossorigin string `json:"crossorigin,omitempty"` // "", "anonymous" or "use-credentials"
	Integrity   string `json:"integrity,omitempty"`
}

// jsonAssets is the wire form of "assets": each of "js" is a URL or an
// object with "src".
type jsonAssets struct {
	CSS []string          `json:"css,omitempty"`
	JS  []json.RawMessage `json:"js,omitempty"`
}

// jsonScript is the object form of one of "assets.js".
type jsonScript struct {
	Src string `json:"src"`
	Script
}

// parseAssets reads "assets", checking each URL against today's rules
// (checkAsset) and each script object's attributes.
func parseAssets(j jsonAssets) (Assets, error) {
	a := Assets{CSS: j.CSS}
	for _, u := range j.CSS {
		if err := checkAsset(u); err != nil {
			return Assets{}, err
		}
	}
	for i, raw := range j.JS {
		raw = bytes.TrimSpace(raw)
		var sc jsonScript
		switch {
		case len(raw) > 0 && raw[0] == '{':
			if err := refuseNull(raw, fmt.Sprintf("assets.js[%d]: ", i)); err != nil {
				return Assets{}, err
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sc); err != nil {
				return Assets{}, fmt.Errorf("%v (want src, type, async, defer, crossorigin, integrity)", forAuthors(err, fmt.Sprintf("assets.js[%d]", i)))
			}
			if sc.Src == "" {
				return Assets{}, fmt.Errorf(`assets.js[%d]: "src" is missing`, i)
			}
		default:
			if err := json.Unmarshal(raw, &sc.Src); err != nil {
				return Assets{}, fmt.Errorf(`assets.js[%d]: want a URL or an object such as {"src": "/static/app.js", "type": "module"}`, i)
			}
		}
		if err := checkAsset(sc.Src); err != nil {
			return Assets{}, err
		}
		if err := checkScript(sc.Script); err != nil {
			return Assets{}, fmt.Errorf("assets.js[%d]: %w", i, err)
		}
		a.JS = append(a.JS, sc.Src)
		if sc.Script != (Script{}) {
			if a.Scripts == nil {
				a.Scripts = map[string]Script{}
			}
			a.Scripts[sc.Src] = sc.Script
		}
	}
	return a, nil
}

// checkScript checks a script object's attributes.
func checkScript(s Script) error {
	switch s.Type {
	case "", "module":
	default:
		return fmt.Errorf(`type %q: want "module", or leave it out for a classic script`, s.Type)
	}
	switch s.Crossorigin {
	case "", "anonymous", "use-credentials":
	default:
		return fmt.Errorf(`crossorigin %q: want "anonymous" or "use-credentials"`, s.Crossorigin)
	}
	for tok := range strings.FieldsSeq(s.Integrity) {
		alg, digest, ok := strings.Cut(tok, "-")
		if !ok || (alg != "sha256" && alg != "sha384" && alg != "sha512") || digest == "" ||
			strings.ContainsFunc(digest, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+/=-_?", r))
			}) {
			return fmt.Errorf(`integrity %q: want sha256-, sha384- or sha512- and a base64 digest`, s.Integrity)
		}
	}
	return nil
}

// Version is a weighted alternative endpoint (canary or blue-green). Weight
// is a percentage; what is left of 100 goes to Entry.Endpoint.
type Version struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	Weight   int    `json:"weight"`
}

// DefaultVersion names an entry's own endpoint among its versions.
const DefaultVersion = "default"

// Serves tells whether version is one the stream asks of e now: "" for an
// entry without versions; for one with versions, DefaultVersion (the
// entry's own endpoint) or a version's name. State kept per fragment
// version (breakers, hedging budgets, metric series) is pruned by it: when
// an entry gains or loses its versions, its own endpoint's state moves
// between "" and "default", and the other one goes.
func (e Entry) Serves(version string) bool {
	if len(e.Versions) == 0 {
		return version == ""
	}
	return version == DefaultVersion || slices.ContainsFunc(e.Versions, func(v Version) bool { return v.Name == version })
}

// Choose picks the version a visitor gets: the one named by current (from
// the visitor's cookie) while it still exists, else a weighted draw with
// roll, a number in [0, 100). It returns the version's name and endpoint,
// and whether current was kept.
func (e Entry) Choose(current string, roll int) (name, endpoint string, kept bool) {
	if current == DefaultVersion {
		return DefaultVersion, e.Endpoint, true
	}
	for _, v := range e.Versions {
		if v.Name == current && v.Weight > 0 {
			return v.Name, v.Endpoint, true
		}
	}
	acc := 0
	for _, v := range e.Versions {
		acc += v.Weight
		if roll < acc {
			return v.Name, v.Endpoint, false
		}
	}
	return DefaultVersion, e.Endpoint, false
}

// jsonEntry is the wire form of an entry object.
type jsonEntry struct {
	Endpoint       string     `json:"endpoint"`
	Timeout        string     `json:"timeout,omitempty"`
	Assets         jsonAssets `json:"assets"`
	ForwardHeaders []string   `json:"forwardHeaders,omitempty"`
	Versions       []Version  `json:"versions,omitempty"`
	SetCookie      bool       `json:"setCookie,omitempty"`
	Loader         string     `json:"loader,omitempty"`
	// Breaker is "off" or an object (see parseBreaker).
	Breaker        json.RawMessage `json:"breaker,omitempty"`
	MaxConcurrency *int            `json:"maxConcurrency,omitempty"`
	// Hedge is a delay, "auto" or an object (see parseHedge).
	Hedge json.RawMessage `json:"hedge,omitempty"`
	// Podium is true or an object (see parsePodium).
	Podium       json.RawMessage `json:"podium,omitempty"`
	TrustScripts bool            `json:"trustScripts,omitempty"`
}

// ParseEntry reads an entry: an endpoint that is an http(s) URL or an ARN
// (a JSON string, or the endpoint text itself as SSM holds it), or a JSON
// object. Any other JSON value (a number, true, null, an array) is an
// error, and so is a bare function name outside an object with
// "loader": "lambda".
func ParseEntry(data []byte) (Entry, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Entry{}, errors.New("empty entry: want an endpoint or a JSON object with \"endpoint\"")
	}
	switch data[0] {
	case '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return Entry{}, fmt.Errorf("bad JSON string: %w", err)
		}
		return entryFromEndpoint(s)
	case '{':
		return parseObject(data)
	}
	if kind := jsonKind(data); kind != "" {
		return Entry{}, fmt.Errorf("a JSON %s: want an endpoint (an http(s) URL or an ARN, as a string) or an object with \"endpoint\"", kind)
	}
	return entryFromEndpoint(string(data))
}

// jsonKind names the JSON value data holds when it is neither a string nor
// an object, else "".
func jsonKind(data []byte) string {
	if data[0] == '[' {
		return "array"
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	switch v.(type) {
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return ""
}

func entryFromEndpoint(s string) (Entry, error) {
	s = strings.TrimSpace(s)
	if isFunctionName(s) {
		return Entry{}, fmt.Errorf("endpoint %q is a bare function name: write {\"endpoint\": %q, \"loader\": \"lambda\"}", s, s)
	}
	if err := CheckEndpoint(s); err != nil {
		return Entry{}, err
	}
	return Entry{Endpoint: s}, nil
}

// forAuthors rewrites a JSON decoding error for the registry's author: the
// field as written in the registry (under prefix, "" at the top), the kind
// of value found and what is wanted, never a Go type.
func forAuthors(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if prefix != "" {
			msg = prefix + ": " + msg
		}
		return errors.New(msg)
	}
	field := te.Field
	switch {
	case prefix != "" && field != "":
		field = prefix + "." + field
	case prefix != "":
		field = prefix
	case field == "":
		field = "the entry"
	}
	found := "a JSON " + te.Value
	if n, ok := strings.CutPrefix(te.Value, "number "); ok {
		found = n
	}
	return fmt.Errorf("%s: %s; want %s", field, found, wantKind(te.Type))
}

// wantKind says what a value of type t is written as in JSON.
func wantKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(wantKind(t.Elem()), "a "), "an ") + "s"
	}
	return "an object"
}

// entryOnly are the entry fields a version cannot have: they apply to
// every version of the entry.
var entryOnly = []string{"timeout", "assets", "forwardHeaders", "setCookie", "loader", "breaker", "maxConcurrency", "hedge", "podium", "trustScripts"}

// refuseNull refuses a field whose value is null in the JSON object data
// (where names a nested object in messages, "" at the top): null is not
// taken for the default, as a null entry is not taken for one; leaving the
// field out is. "endpoint": null is left to say the endpoint is missing.
func refuseNull(data []byte, where string) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return nil // not an object: the decoder says why
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if string(bytes.TrimSpace(fields[k])) != "null" || (where == "" && strings.EqualFold(k, "endpoint")) {
			continue
		}
		hint := "leave the field out for its default"
		if where == "" && strings.EqualFold(k, "breaker") {
			hint = `leave the field out for the default breaker, or write "off"`
		}
		return fmt.Errorf("%s%q: null: %s", where, k, hint)
	}
	return nil
}

// checkVersions reads each version of an entry object on its own, so that
// a message can say which one is wrong, and tells an author who gave a
// version an entry field that it is set per entry.
func checkVersions(data []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil
	}
	var raw json.RawMessage
	for k, v := range top {
		if strings.EqualFold(k, "versions") {
			raw = v
		}
	}
	var versions []json.RawMessage
	if raw == nil || json.Unmarshal(raw, &versions) != nil {
		return nil // absent, or not an array: the decoder says why
	}
	for i, v := range versions {
		where := fmt.Sprintf("versions[%d]", i)
		var fields map[string]json.RawMessage
		if json.Unmarshal(v, &fields) == nil {
			for k := range fields {
				for _, f := range entryOnly {
					if !strings.EqualFold(k, f) {
						continue
					}
					also := ""
					if f == "breaker" || f == "maxConcurrency" || f == "hedge" {
						also = ": each version, and the entry's own endpoint, gets its own breaker, bulkhead and hedging with the entry's settings"
					}
					return fmt.Errorf("%s: %q is set per entry, not per version (a version has name, endpoint and weight)%s", where, k, also)
				}
			}
		}
		if err := refuseNull(v, where+": "); err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		var one Version
		if err := dec.Decode(&one); err != nil {
			return forAuthors(err, where)
		}
	}
	return nil
}

func parseObject(data []byte) (Entry, error) {
	if err := refuseNull(data, ""); err != nil {
		return Entry{}, err
	}
	if err := checkVersions(data); err != nil {
		return Entry{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j jsonEntry
	if err := dec.Decode(&j); err != nil {
		return Entry{}, fmt.Errorf("bad entry object: %w", forAuthors(err, ""))
	}
	if dec.More() {
		return Entry{}, errors.New("bad entry object: data after the object")
	}
	if j.Endpoint == "" {
		return Entry{}, errors.New(`"endpoint" is missing`)
	}
	e := Entry{Endpoint: strings.TrimSpace(j.Endpoint), SetCookie: j.SetCookie, Loader: j.Loader, TrustScripts: j.TrustScripts}
	var err error
	if j.Loader != "" && j.Loader != LoaderLambda {
		return Entry{}, fmt.Errorf("loader %q: the only loader is \"lambda\", for endpoints that are bare function names (a URL or an ARN says its own kind)", j.Loader)
	}
	if err := checkEndpoint(e.Endpoint, e.Loader); err != nil {
		return Entry{}, err
	}
	if j.Timeout != "" {
		d, err := time.ParseDuration(j.Timeout)
		if err != nil || d <= 0 {
			return Entry{}, fmt.Errorf("timeout %q: want a positive Go duration such as \"500ms\"", j.Timeout)
		}
		e.Timeout = d
	}
	for _, h := range j.ForwardHeaders {
		if !validHeaderName(h) {
			return Entry{}, fmt.Errorf("forwardHeaders: %q is not a header name", h)
		}
		if NeverForwarded(h) {
			return Entry{}, fmt.Errorf("forwardHeaders: %q is never forwarded (the request id, the slot and Podium's context are the composer's; connection headers, Host, Accept-Encoding and Content-Length belong to one connection or would change the fragment's answer): remove it", h)
		}
		e.ForwardHeaders = append(e.ForwardHeaders, http.CanonicalHeaderKey(h))
	}
	if e.Assets, err = parseAssets(j.Assets); err != nil {
		return Entry{}, err
	}
	if e.Breaker, err = parseBreaker(j.Breaker); err != nil {
		return Entry{}, err
	}
	if j.MaxConcurrency != nil {
		if n := *j.MaxConcurrency; n < 1 {
			return Entry{}, fmt.Errorf("maxConcurrency %d: want at least 1 (leave it out for no cap)", n)
		}
		e.MaxConcurrency = *j.MaxConcurrency
	}
	if e.Hedge, err = parseHedge(j.Hedge, e.Timeout); err != nil {
		return Entry{}, err
	}
	if e.Podium, err = parsePodium(j.Podium); err != nil {
		return Entry{}, err
	}
	total := 0
	names := map[string]bool{}
	for i, v := range j.Versions {
		switch {
		case v.Name == "":
			return Entry{}, fmt.Errorf("versions[%d]: \"name\" is missing", i)
		case names[v.Name]:
			return Entry{}, fmt.Errorf("versions[%d]: name %q given twice", i, v.Name)
		case v.Name == DefaultVersion:
			return Entry{}, fmt.Errorf("versions[%d]: %q names the entry's own endpoint; choose another name", i, v.Name)
		case !validVersionName(v.Name):
			return Entry{}, fmt.Errorf("versions[%d]: name %q: use letters, digits and - _ . (up to 40)", i, v.Name)
		case v.Weight < 0 || v.Weight > 100:
			return Entry{}, fmt.Errorf("versions[%d]: weight %d: want 0 to 100 (percent)", i, v.Weight)
		}
		names[v.Name] = true
		if err := checkEndpoint(v.Endpoint, e.Loader); err != nil {
			return Entry{}, fmt.Errorf("versions[%d]: %w", i, err)
		}
		total += v.Weight
	}
	if total > 100 {
		return Entry{}, fmt.Errorf("versions: weights add up to %d, more than 100", total)
	}
	e.Versions = j.Versions
	return e, nil
}

// checkEndpoint checks an endpoint of an entry object whose loader is
// loader: with "lambda", a bare function name or a Lambda ARN; without,
// what CheckEndpoint accepts.
func checkEndpoint(s, loader string) error {
	if loader == LoaderLambda {
		if isFunctionName(s) || isLambdaARN(s) {
			return nil
		}
		return fmt.Errorf("\"loader\": \"lambda\" with endpoint %q: the loader is for bare function names; remove it (a URL or an ARN says its own kind)", RedactEndpoint(s))
	}
	if isFunctionName(s) {
		return fmt.Errorf("endpoint %q is a bare function name: add \"loader\": \"lambda\"", s)
	}
	return CheckEndpoint(s)
}

func isLambdaARN(s string) bool {
	parts := strings.SplitN(s, ":", 7)
	return len(parts) == 7 && parts[0] == "arn" && parts[1] != "" && parts[2] == "lambda" && parts[3] != "" && parts[5] != ""
}

// CheckEndpoint accepts an http(s) URL with a host, or a Lambda or Step
// Functions ARN. (A bare Lambda function name is an endpoint only in an
// entry object with "loader": "lambda".)
func CheckEndpoint(s string) error {
	q := RedactEndpoint(s) // as quoted in a message
	switch {
	case s == "":
		return errors.New("empty endpoint")
	case strings.HasPrefix(s, "arn:"):
		parts := strings.SplitN(s, ":", 7)
		if len(parts) < 6 || parts[1] == "" || parts[3] == "" || parts[5] == "" {
			return fmt.Errorf("endpoint %q: not an ARN (arn:partition:service:region:account:resource)", q)
		}
		switch parts[2] {
		case "lambda", "states":
			return nil
		}
		return fmt.Errorf("endpoint %q: ARN of service %q; want lambda or states", q, parts[2])
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // it quotes the URL whole
			}
			return fmt.Errorf("endpoint %q: %w", q, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("endpoint %q: scheme %q; want http or https", q, u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("endpoint %q: no host", q)
		}
		if u.User != nil {
			return fmt.Errorf("endpoint %q: credentials in URLs are not allowed", q)
		}
		return nil
	}
	return fmt.Errorf("endpoint %q: want an http(s) URL or a Lambda or Step Functions ARN (a bare function name only in {\"endpoint\": \"NAME\", \"loader\": \"lambda\"})", q)
}

func validVersionName(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func isFunctionName(s string) bool {
	if s == "" || len(s) > 140 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func checkAsset(a string) error {
	u, err := url.Parse(a)
	if err != nil || a == "" || strings.ContainsAny(a, "\"<>\r\n ") {
		return fmt.Errorf("assets: %q is not a URL", RedactEndpoint(a))
	}
	if u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("assets: %q: scheme %q; want a path or an http(s) URL", RedactEndpoint(a), u.Scheme)
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Raw is one entry as a source holds it.
type Raw struct {
	ID   string `json:"id"`
	From string `json:"from"` // where it came from, for messages: a parameter name, "file.json: id"
	Data []byte `json:"data"`
	// File and Line place an entry read from a registry file.
	File string `json:"-"`
	Line int    `json:"-"`
}

// EntryError is an entry that did not parse.
type EntryError struct {
	ID   string
	From string
	File string // the registry file and line, for an entry read from one
	Line int
	Err  error
	// Kept says that the entry's last good value stays in use; false when
	// there is none (the id is unregistered until the entry is fixed).
	Kept bool
}

// Position is where the entry is: "file:line" for a registry file, else
// the source's name for it (a parameter name).
func (e *EntryError) Position() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.From
}

func (e *EntryError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: fragment %q: %v", e.Position(), e.ID, e.Err)
	}
	return fmt.Sprintf("registry entry %s: %v", e.From, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// Registry holds the current entries. It is safe for concurrent use; Lookup
// never blocks on an update.
type Registry struct {
	mu      sync.Mutex // serialises updates
	current atomic.Pointer[snapshot]
}

// snapshot is one published state: the entries and the raw form of each,
// so that what is served can be written out and read back exactly.
type snapshot struct {
	entries map[string]Entry
	raws    map[string]Raw
	at      time.Time
}

// New returns a registry holding entries (which it takes over); nil gives
// an empty registry that is not yet loaded.
func New(entries map[string]Entry) *Registry {
	r := &Registry{}
	if entries != nil {
		r.current.Store(&snapshot{entries: entries, raws: map[string]Raw{}, at: time.Now()})
	}
	return r
}

// Lookup returns the entry for id.
func (r *Registry) Lookup(id string) (Entry, bool) {
	s := r.current.Load()
	if s == nil {
		return Entry{}, false
	}
	e, ok := s.entries[id]
	return e, ok
}

// Loaded reports whether the registry has been loaded at least once.
func (r *Registry) Loaded() bool { return r.current.Load() != nil }

// LastUpdate is when entries were last published.
func (r *Registry) LastUpdate() time.Time {
	if s := r.current.Load(); s != nil {
		return s.at
	}
	return time.Time{}
}

// IDs lists the registered ids, sorted.
func (r *Registry) IDs() []string {
	s := r.current.Load()
	if s == nil {
		return nil
	}
	ids := make([]string, 0, len(s.entries))
	for id := range s.entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Raws returns the raw form of every entry in use (for entries that came
// through Update), sorted by id: what a snapshot stores.
func (r *Registry) Raws() []Raw {
	s := r.current.Load()
	if s == nil {
		return nil
	}
	out := make([]Raw, 0, len(s.raws))
	for _, raw := range s.raws {
		out = append(out, raw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Update publishes the entries in raws, which replace the current set: ids
// not in raws are dropped. An entry that does not parse keeps its last good
// value (or stays absent) and is returned in the errors.
func (r *Registry) Update(raws []Raw) []*EntryError {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.current.Load()
	if old == nil {
		old = &snapshot{}
	}
	next := &snapshot{entries: make(map[string]Entry, len(raws)), raws: make(map[string]Raw, len(raws)), at: time.Now()}
	var errs []*EntryError
	for _, raw := range raws {
		e, err := ParseEntry(raw.Data)
		if err != nil {
			ee := &EntryError{ID: raw.ID, From: raw.From, File: raw.File, Line: raw.Line, Err: err}
			errs = append(errs, ee)
			if prev, ok := old.entries[raw.ID]; ok {
				ee.Kept = true
				next.entries[raw.ID] = prev
				if prevRaw, ok := old.raws[raw.ID]; ok {
					next.raws[raw.ID] = prevRaw
				}
			}
			continue
		}
		next.entries[raw.ID] = e
		next.raws[raw.ID] = raw
	}
	r.current.Store(next)
	return errs
}

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

// NeverForwarded says whether name (any case) is a header an entry's
// forwardHeaders cannot pass: the request id is the composer's, the rest
// belong to one connection or would make the fragment's answer something
// other than plain HTML bytes. The registry refuses entries asking for
// them; fetch never copies them.
func NeverForwarded(name string) bool { return neverForwarded[http.CanonicalHeaderKey(name)] }

var neverForwarded = map[string]bool{
	"X-Request-Id": true, "Accept-Encoding": true, "Host": true, "Connection": true, "Keep-Alive": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
	"Proxy-Authorization": true, "Proxy-Connection": true,
	// The composer's own (package fetch's SlotHeader and Podium's context):
	// never a visitor's value.
	"Mfe-Slot": true, "Podium-Locale": true, "Podium-Device-Type": true, "Podium-Mount-Origin": true,
	"Podium-Mount-Pathname": true, "Podium-Public-Pathname": true, "Podium-Requested-By": true,
}
