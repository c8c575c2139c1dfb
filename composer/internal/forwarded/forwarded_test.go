package forwarded

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestSecure(t *testing.T) {
	for _, c := range []struct {
		name, header, value string
		want                bool
	}{
		{"none", "", "", false},
		{"x-forwarded-proto", "X-Forwarded-Proto", "https", true},
		{"x-forwarded-proto upper", "X-Forwarded-Proto", "HTTPS", true},
		{"x-forwarded-proto first wins", "X-Forwarded-Proto", "https, http", true},
		{"x-forwarded-proto first is http", "X-Forwarded-Proto", "http, https", false},
		{"cloudfront", "CloudFront-Forwarded-Proto", "https", true},
		{"forwarded", "Forwarded", "for=192.0.2.1;proto=https;by=x", true},
		{"forwarded quoted", "Forwarded", `for="[2001:db8::1]";proto="https"`, true},
		{"forwarded first element only", "Forwarded", "proto=http, proto=https", false},
		{"forwarded proto in a quoted value", "Forwarded", `for="a;proto=https"`, false},
		{"forwarded http", "Forwarded", "proto=http", false},
	} {
		r := httptest.NewRequest("GET", "http://example.test/", nil)
		if c.header != "" {
			r.Header.Set(c.header, c.value)
		}
		if got := Secure(r); got != c.want {
			t.Errorf("%s: Secure = %v, want %v", c.name, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "https://example.test/", nil)
	r.TLS = &tls.ConnectionState{}
	if !Secure(r) {
		t.Error("a TLS request is not secure")
	}
}
