package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Hedge is an entry's hedged-request rule (package hedge): when the first
// request has not answered its headers after the delay, a second one is
// sent and the first answer wins. The zero value is off, the default.
type Hedge struct {
	// Delay is the fixed delay before the second request; 0 with Auto.
	Delay time.Duration
	// Auto: the delay is the fragment version's recent p90 time to headers.
	Auto bool
	// Budget caps the second requests at this share of the fragment
	// version's requests, (0, 1]; 0 is DefaultHedgeBudget.
	Budget float64
}

// DefaultHedgeBudget is the share of a fragment's requests that may be
// hedged when the entry does not say.
const DefaultHedgeBudget = 0.1

// The bounds of a fixed hedge delay.
const (
	MinHedgeDelay = time.Millisecond
	MaxHedgeDelay = time.Minute
)

// On reports whether the entry asks for hedged requests.
func (h Hedge) On() bool { return h.Auto || h.Delay > 0 }

// BudgetOrDefault is the entry's budget, or the default.
func (h Hedge) BudgetOrDefault() float64 {
	if h.Budget > 0 {
		return h.Budget
	}
	return DefaultHedgeBudget
}

const hedgeForms = `want a delay such as "40ms", "auto" or an object such as {"delay": "40ms", "budget": 0.1}`

// jsonHedge is the object form of "hedge".
type jsonHedge struct {
	Delay  string   `json:"delay"`
	Budget *float64 `json:"budget,omitempty"`
}

// parseHedge reads "hedge": a delay ("40ms"), "auto", or an object with
// "delay" and "budget". timeout is the entry's (0: none given): a fixed
// delay must be below it.
func parseHedge(raw json.RawMessage, timeout time.Duration) (Hedge, error) {
	var h Hedge
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return h, nil
	}
	var delay string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &delay); err != nil {
			return h, fmt.Errorf("hedge: %s: %s", raw, hedgeForms)
		}
	case '{':
		if err := refuseNull(raw, "hedge: "); err != nil {
			return h, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var j jsonHedge
		if err := dec.Decode(&j); err != nil {
			return h, fmt.Errorf("%v (%s)", forAuthors(err, "hedge"), hedgeForms)
		}
		if j.Delay == "" {
			return h, fmt.Errorf(`hedge: "delay" is missing: %s`, hedgeForms)
		}
		if j.Budget != nil {
			if b := *j.Budget; !(b > 0 && b <= 1) {
				return h, fmt.Errorf("hedge: budget %v: want a share above 0 and at most 1, such as 0.1 (at most one request in ten hedged)", b)
			}
			h.Budget = *j.Budget
		}
		delay = j.Delay
	default:
		kind := jsonKind(raw)
		if kind == "" {
			kind = "value"
		}
		return h, fmt.Errorf("hedge: a JSON %s; %s", kind, hedgeForms)
	}
	if delay == "auto" {
		h.Auto = true
		return h, nil
	}
	d, err := time.ParseDuration(delay)
	if err != nil {
		return h, fmt.Errorf("hedge %q: want a Go duration such as \"40ms\", \"auto\" (the fragment's recent p90), or an object such as {\"delay\": \"40ms\", \"budget\": 0.1}", delay)
	}
	if d < MinHedgeDelay || d > MaxHedgeDelay {
		return h, fmt.Errorf("hedge %q: want a Go duration from %s to %s, or \"auto\"", delay, MinHedgeDelay, MaxHedgeDelay)
	}
	if timeout > 0 && d >= timeout {
		return h, fmt.Errorf("hedge %s is not below the entry's timeout %s: the second request would never be sent", d, timeout)
	}
	h.Delay = d
	return h, nil
}
