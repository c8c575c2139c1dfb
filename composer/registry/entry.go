package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/override"
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

// LoaderLambda is the one loader an entry may name: its endpoints are
// Lambda functions, possibly by bare name.
const LoaderLambda = "lambda"

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

// NeverForwarded says whether name (any case) is a header an entry's
// forwardHeaders cannot pass: the request id is the composer's, the rest
// belong to one connection or would make the fragment's answer something
// other than plain HTML bytes, and the override token (override.Header) is
// a developer's, for the composer alone. Every Podium-* name is the
// composer's (Podium's context), not only those it sets. The registry
// refuses entries asking for them; fetch never copies them.
func NeverForwarded(name string) bool {
	name = http.CanonicalHeaderKey(name)
	return neverForwarded[name] || strings.HasPrefix(name, "Podium-")
}

var neverForwarded = map[string]bool{
	"X-Request-Id": true, "Accept-Encoding": true, "Host": true, "Connection": true, "Keep-Alive": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
	"Proxy-Authorization": true, "Proxy-Connection": true,
	// The composer's own (package fetch's SlotHeader and Podium's context):
	// never a visitor's value.
	"Mfe-Slot": true, "Podium-Locale": true, "Podium-Device-Type": true, "Podium-Mount-Origin": true,
	"Podium-Mount-Pathname": true, "Podium-Public-Pathname": true, "Podium-Requested-By": true,
	// The override token (package override) never leaves the composer.
	override.Header: true,
}
