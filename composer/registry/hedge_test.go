package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEntryHedge(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := []struct {
		in   string
		want Hedge
	}{
		{`{` + ep + `}`, Hedge{}},
		{`{` + ep + `, "hedge": "40ms"}`, Hedge{Delay: 40 * time.Millisecond}},
		{`{` + ep + `, "hedge": "auto"}`, Hedge{Auto: true}},
		{`{` + ep + `, "hedge": {"delay": "30ms", "budget": 0.05}}`, Hedge{Delay: 30 * time.Millisecond, Budget: 0.05}},
		{`{` + ep + `, "hedge": {"delay": "auto", "budget": 1}}`, Hedge{Auto: true, Budget: 1}},
		{`{` + ep + `, "timeout": "500ms", "hedge": "499ms"}`, Hedge{Delay: 499 * time.Millisecond}},
		// Lambda and Step Functions fragments are hedged only when their
		// entry says so, as any other.
		{`{"endpoint": "reviews", "loader": "lambda", "hedge": "50ms"}`, Hedge{Delay: 50 * time.Millisecond}},
	}
	for _, tt := range tests {
		got, err := ParseEntry([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got.Hedge); d != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.in, d)
		}
		if got.Hedge.On() != (tt.want != Hedge{}) {
			t.Errorf("%s: On() = %v", tt.in, got.Hedge.On())
		}
	}
	if (Hedge{}).BudgetOrDefault() != DefaultHedgeBudget || (Hedge{Budget: 0.5}).BudgetOrDefault() != 0.5 {
		t.Error("BudgetOrDefault")
	}
}

func TestParseEntryHedgeErrors(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := map[string]string{
		`"hedge": "on"`:   `hedge "on": want a Go duration such as "40ms", "auto"`,
		`"hedge": "0ms"`:  `hedge "0ms": want a Go duration from 1ms to 1m0s`,
		`"hedge": "-5ms"`: `hedge "-5ms"`,
		`"hedge": "2m"`:   `hedge "2m"`,
		`"hedge": 40`:     `hedge: a JSON number; want a delay such as "40ms", "auto" or an object`,
		`"hedge": true`:   `hedge: a JSON boolean`,
		`"hedge": {}`:     `hedge: "delay" is missing`,
		`"hedge": {"delay": "30ms", "budget": 0}`:     `hedge: budget 0: want a share above 0 and at most 1`,
		`"hedge": {"delay": "30ms", "budget": 1.5}`:   `hedge: budget 1.5`,
		`"hedge": {"delay": "30ms", "budget": "10%"}`: `hedge.budget: a JSON string; want a number`,
		`"hedge": {"delay": "30ms", "percent": 10}`:   `unknown field`,
		`"hedge": {"delay": "30ms", "budget": null}`:  `"budget": null`,
		`"hedge": null`:                                `"hedge": null`,
		`"timeout": "300ms", "hedge": "300ms"`:         `hedge 300ms is not below the entry's timeout 300ms: the second request would never be sent`,
		`"timeout": "300ms", "hedge": {"delay": "1s"}`: `hedge 1s is not below the entry's timeout 300ms`,
	}
	for field, want := range tests {
		_, err := ParseEntry([]byte(`{` + ep + `, ` + field + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", field, err, want)
		}
	}
	// Per entry, not per version.
	_, err := ParseEntry([]byte(`{` + ep + `, "versions": [{"name": "v2", "endpoint": "https://r.internal/v2", "weight": 5, "hedge": "30ms"}]}`))
	if err == nil || !strings.Contains(err.Error(), `versions[0]: "hedge" is set per entry, not per version`) {
		t.Errorf("hedge in a version: %v", err)
	}
}
