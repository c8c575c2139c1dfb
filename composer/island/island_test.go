package island

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	keyA = []byte("a-key-of-thirty-two-bytes-or-more-aaaa")
	keyB = []byte("b-key-of-thirty-two-bytes-or-more-bbbb")
)

func ring(t *testing.T, sign string, keys map[string][]byte) *Ring {
	t.Helper()
	r, err := NewRing(sign, keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func claims(now time.Time) Claims {
	return Claims{Fragment: "cart", Template: "product.html", Slot: 2, Path: "/p/caf%C3%A9",
		Params: map[string]string{"id": "café"}, Query: "id=caf%C3%A9&ref=a%26b", Expires: now.Add(time.Minute).Truncate(time.Second)}
}

func query(u string) string { _, q, _ := strings.Cut(u, "?"); return q }

func TestVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	r := ring(t, "a", map[string][]byte{"a": keyA})
	u := r.URL(claims(now))
	if !strings.HasPrefix(u, Path+"?") {
		t.Fatalf("URL %q", u)
	}
	got, err := r.Verify(query(u)+"&_debug=1", now, "_debug")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(claims(now), got); d != "" {
		t.Errorf("claims (-want +got):\n%s", d)
	}
}

// Every way an island request can be wrong is refused, with its reason.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	old := ring(t, "b", map[string][]byte{"b": keyB})
	r := ring(t, "a", map[string][]byte{"a": keyA})
	good := query(r.URL(claims(now)))
	set := func(name, val string) string {
		v, _ := url.ParseQuery(good)
		v.Set(name, val)
		return v.Encode()
	}
	del := func(name string) string {
		v, _ := url.ParseQuery(good)
		v.Del(name)
		return v.Encode()
	}
	expired := claims(now)
	expired.Expires = now.Add(-time.Second)
	for name, c := range map[string]struct {
		q    string
		want error
	}{
		"unsigned":         {del("sig"), ErrUnsigned},
		"forged":           {set("sig", strings.Repeat("A", 43)), ErrForged},
		"other query":      {set("q", "id=1&ref=evil"), ErrForged},
		"other params":     {set("r", "id=2"), ErrForged},
		"other slot":       {set("s", "3"), ErrForged},
		"other fragment":   {set("f", "admin"), ErrForged},
		"other template":   {set("t", "other.html"), ErrForged},
		"other path":       {set("p", "/x"), ErrForged},
		"later expiry":     {set("e", "99999999999"), ErrForged},
		"expired":          {query(r.URL(expired)), ErrExpired},
		"old key":          {query(old.URL(claims(now))), ErrUnknownKey},
		"added parameter":  {good + "&x=1", ErrMalformed},
		"doubled":          {good + "&q=a", ErrMalformed},
		"debug not signed": {good + "&_debug=1", ErrMalformed}, // not allowed here: no unsigned names given
	} {
		t.Run(name, func(t *testing.T) {
			_, err := r.Verify(c.q, now)
			if !errors.Is(err, c.want) {
				t.Errorf("Verify: %v, want %v", err, c.want)
			}
		})
	}
}

// During a rotation old and new tasks accept each other's signatures.
func TestRotation(t *testing.T) {
	t.Parallel()
	now := time.Now()
	keys := map[string][]byte{"a": keyA, "b": keyB}
	oldTask, newTask := ring(t, "a", keys), ring(t, "b", keys)
	for _, c := range []struct{ signer, verifier *Ring }{{oldTask, newTask}, {newTask, oldTask}} {
		if _, err := c.verifier.Verify(query(c.signer.URL(claims(now))), now); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestNewRingRefuses(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		sign string
		keys map[string][]byte
	}{
		"none":       {"a", nil},
		"short":      {"a", map[string][]byte{"a": []byte("short")}},
		"bad id":     {"a b", map[string][]byte{"a b": keyA}},
		"sign unset": {"c", map[string][]byte{"a": keyA}},
	} {
		if _, err := NewRing(c.sign, c.keys); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), string(keyA)) {
			t.Errorf("%s: error holds the key: %v", name, err)
		}
	}
}

func TestLifetime(t *testing.T) {
	t.Parallel()
	for cc, want := range map[string]time.Duration{
		"public, max-age=0, s-maxage=300":                                                300*time.Second + time.Minute,
		"public, max-age=60, s-maxage=30, stale-while-revalidate=10, stale-if-error=600": 660*time.Second + time.Minute,
		"private, no-cache": 5*time.Minute + time.Minute,
		"no-store":          5*time.Minute + time.Minute,
	} {
		if got := Lifetime(cc, 5*time.Minute, time.Minute); got != want {
			t.Errorf("Lifetime(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	got, err := Keys(" 2026a = c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0== , b=x")
	if err != nil {
		t.Fatal(err)
	}
	if string(got["2026a"]) != "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0==" || string(got["b"]) != "x" {
		t.Errorf("Keys: %q", got)
	}
	for _, bad := range []string{"novalue", "=x", "a=x,a=y"} {
		if _, err := Keys(bad); err == nil {
			t.Errorf("Keys(%q): no error", bad)
		}
	}
}

// An island has one URL: another spelling of the same claims (parameters
// reordered, a name or value percent-encoded, the MAC in base64's other
// alphabet) is refused, so that nobody can bypass a CDN's cache of a
// public island or fill it with copies (found by the outside attack).
func TestVerifyAcceptsOnlyTheURLItMade(t *testing.T) {
	t.Parallel()
	now := time.Now()
	r := ring(t, "a", map[string][]byte{"a": keyA})
	good := query(r.URL(claims(now)))
	pairs := strings.Split(good, "&")
	reversed := slices.Clone(pairs)
	slices.Reverse(reversed)
	var sig string
	for _, p := range pairs {
		if v, ok := strings.CutPrefix(p, "sig="); ok {
			sig = v
		}
	}
	for name, q := range map[string]string{
		"reordered":        strings.Join(reversed, "&"),
		"name encoded":     strings.Replace(good, "f=", "%66=", 1),
		"value encoded":    strings.Replace(good, "k=a", "k=%61", 1),
		"sig char encoded": strings.Replace(good, "sig="+sig, "sig="+strings.Replace(sig, sig[:1], fmt.Sprintf("%%%02X", sig[0]), 1), 1),
	} {
		if q == good {
			t.Fatalf("%s: the same query", name)
		}
		if _, err := r.Verify(q, now); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) {
			t.Errorf("%s: Verify(%q) = %v, want it refused", name, q, err)
		}
	}
	if _, err := r.Verify(good+"&_debug=1", now, "_debug"); err != nil {
		t.Errorf("the URL it made, with the debug view: %v", err)
	}
	if _, err := r.Verify("_debug=1&"+good, now, "_debug"); err != nil {
		t.Errorf("the debug view first: %v", err)
	}
}
