package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

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
