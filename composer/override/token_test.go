package override

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var key = []byte(strings.Repeat("k", 32))

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tok, err := Sign(key, Token{Fragments: map[string]string{"reviews": "https://preview.internal/fragment"}, Debug: true, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(key, tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := got.Endpoint("reviews"); !ok || u != "https://preview.internal/fragment" || !got.Debug {
		t.Fatalf("got %+v", got)
	}
	if _, ok := got.Endpoint("other"); ok {
		t.Fatal("other fragment overridden")
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	good, err := Sign(key, Token{Fragments: map[string]string{"reviews": "https://a.example/x"}, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := strings.Cut(good, ".")
	otherKey := []byte(strings.Repeat("o", 32))
	wrong, _ := Sign(otherKey, Token{Fragments: map[string]string{"reviews": "https://a.example/x"}, Expires: now.Add(time.Hour)})
	expired, _ := Sign(key, Token{Fragments: map[string]string{"reviews": "https://a.example/x"}, Expires: now.Add(-time.Second)})
	// The claims of a good token with another fragment: the MAC no longer fits.
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"f":{"cart":"https://evil.example/"},"e":"2030-01-01T00:00:00Z"}`)) + good[len(body):]
	cases := map[string]struct {
		tok  string
		want error
	}{
		"unsigned":         {body, ErrMalformed},
		"empty signature":  {body + ".", ErrSignature},
		"wrong key":        {wrong, ErrSignature},
		"claims changed":   {forged, ErrSignature},
		"expired":          {expired, ErrExpired},
		"empty":            {"", ErrMalformed},
		"garbage":          {"!!!.???", ErrMalformed},
		"too long":         {strings.Repeat("a", MaxTokenLen+1) + ".x", ErrMalformed},
		"signature cut":    {good[:len(good)-1], ErrMalformed}, // its new last character has bits set that strict decoding refuses
		"not base64 claim": {"%%%." + base64.RawURLEncoding.EncodeToString(mac(key, "%%%")), ErrMalformed},
	}
	for name, c := range cases {
		if _, err := Verify(key, c.tok, now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// A token signed over claims that are not an override: refused even
	// with a right MAC.
	for _, claims := range []string{`{}`, `{"f":{"a":"file:///etc/passwd"},"e":"2030-01-01T00:00:00Z"}`, `[]`} {
		b := base64.RawURLEncoding.EncodeToString([]byte(claims))
		tok := b + "." + base64.RawURLEncoding.EncodeToString(mac(key, b))
		if _, err := Verify(key, tok, now); !errors.Is(err, ErrMalformed) {
			t.Errorf("claims %s: got %v, want ErrMalformed", claims, err)
		}
	}
}

func TestShortKey(t *testing.T) {
	short := []byte(strings.Repeat("k", 31))
	if _, err := Sign(short, Token{Expires: time.Now().Add(time.Hour)}); !errors.Is(err, ErrShortKey) {
		t.Fatalf("Sign: %v", err)
	}
	if _, err := Verify(short, "a.b", time.Now()); !errors.Is(err, ErrShortKey) {
		t.Fatalf("Verify: %v", err)
	}
}

func TestSignRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x/", "/relative", "https://user:pw@host/", "arn:aws:lambda:eu-west-1:1:function:f", ""} {
		if _, err := Sign(key, Token{Fragments: map[string]string{"a": u}, Expires: time.Now().Add(time.Hour)}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestContext(t *testing.T) {
	if FromContext(context.Background()) != nil {
		t.Fatal("token from nowhere")
	}
	tok := &Token{Debug: true}
	if FromContext(NewContext(context.Background(), tok)) != tok {
		t.Fatal("token lost")
	}
	var none *Token
	if _, ok := none.Endpoint("a"); ok {
		t.Fatal("nil token overrides")
	}
}

// A token has one spelling: changing the unused bits of the signature's
// last character is an altered token, refused.
func TestVerifyIsStrictAboutEncoding(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	good, err := Sign(key, Token{Fragments: map[string]string{"reviews": "https://a.example/x"}, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	accepted := 0
	for _, c := range alphabet {
		tok := good[:len(good)-1] + string(c)
		if _, err := Verify(key, tok, now); err == nil {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("%d spellings of the signature's last character accepted, want 1", accepted)
	}
}

// A token valid for longer than MaxTTL from now was not made by the
// command: refused, so that a signer holding the key cannot make one that
// never expires.
func TestVerifyRefusesTooLongALife(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for life, want := range map[time.Duration]error{MaxTTL: nil, MaxTTL + time.Hour: ErrMalformed, 100 * 365 * 24 * time.Hour: ErrMalformed} {
		tok, err := Sign(key, Token{Fragments: map[string]string{"a": "https://a.example/"}, Expires: now.Add(life)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(key, tok, now); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("life %v: got %v, want %v", life, err, want)
		}
	}
}
