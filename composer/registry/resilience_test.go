package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEntryBreakerAndMaxConcurrency(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := []struct {
		in   string
		want Entry
	}{
		{`{` + ep + `}`, Entry{Endpoint: "https://r.internal/f"}},
		{`{` + ep + `, "breaker": "off"}`, Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{Off: true}}},
		{`{` + ep + `, "breaker": {"failureRate": 0.25, "minRequests": 50, "window": "30s", "openFor": "5s"}}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{FailureRate: 0.25, MinRequests: 50, Window: 30 * time.Second, OpenFor: 5 * time.Second}}},
		{`{` + ep + `, "breaker": {"minRequests": 5}, "maxConcurrency": 32}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{MinRequests: 5}, MaxConcurrency: 32}},
	}
	for _, tt := range tests {
		got, err := ParseEntry([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.in, d)
		}
	}
}

func TestParseEntryBreakerErrors(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := map[string]string{
		`"breaker": "on"`:                     `want "off"`,
		`"breaker": true`:                     "breaker",
		`"breaker": {"failureRate": 0}`:       "failureRate 0",
		`"breaker": {"failureRate": 1.5}`:     "failureRate 1.5",
		`"breaker": {"minRequests": 0}`:       "minRequests 0",
		`"breaker": {"window": "10"}`:         `window "10"`,
		`"breaker": {"window": "100ms"}`:      `window "100ms"`,
		`"breaker": {"openFor": "-1s"}`:       `openFor "-1s"`,
		`"breaker": {"open": "1s"}`:           "unknown field",
		`"maxConcurrency": 0`:                 "maxConcurrency 0",
		`"maxConcurrency": -3`:                "maxConcurrency -3",
		`"maxConcurrency": "10"`:              "maxConcurrency",
		`"breaker": {"failureRate": "half"}`:  "failureRate",
		`"breaker": {"minRequests": 2000000}`: "minRequests 2000000",
	}
	for field, want := range tests {
		_, err := ParseEntry([]byte(`{` + ep + `, ` + field + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", field, err, want)
		}
	}
}
