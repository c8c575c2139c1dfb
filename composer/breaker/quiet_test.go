package breaker_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// A dead fragment on a quiet page: 40 pages one after another, one per
// tick, with a blackholed fragment (it accepts and never answers). The
// rate rule alone needs minRequests failures in a window, which a quiet
// page never reaches; the consecutive-failures trip opens the breaker
// after five, and each failed probe doubles the open time, so at most 10
// of the 40 pages wait the fragment's timeout. Scaled down: a tick of
// 100 ms stands for the second, as does openFor, and the
// fragment's timeout is 30 ms (its 300 ms).
func TestDeadFragmentOnAQuietPage(t *testing.T) {
	t.Parallel()
	const tick = 100 * time.Millisecond
	hole := newBlackhole(t)
	e := newEnv(t, map[string]registry.Entry{"hole": {
		Endpoint: "http://" + hole.addr + "/f",
		Timeout:  30 * time.Millisecond,
		// The default window stands for a minute and a half of the
		// issue's pages: 40 pages are well inside it.
		Breaker: registry.Breaker{OpenFor: tick, Window: 100 * tick, MaxOpenFor: 100 * tick},
	}})
	tpl, err := template.Compile("page.html", []byte(`<html><body><micro-frontend id="hole"><p>fallback</p></micro-frontend></body></html>`))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := &outcomes{}
	c := &stream.Composer{Fetch: e.tr, Registry: e.reg, Log: slog.New(slog.NewTextHandler(e.log, nil)), Observer: outcomes}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "req"})
	}))
	t.Cleanup(s.Close)

	var asked []int // the pages that waited the fragment's timeout
	start := time.Now()
	for i := range 40 {
		time.Sleep(time.Until(start.Add(time.Duration(i) * tick)))
		resp, body := getPage(t, s.URL)
		if resp.StatusCode != 200 || !strings.Contains(body, "<p>fallback</p>") {
			t.Fatalf("page %d: %d %q, want the fallback", i, resp.StatusCode, body)
		}
		switch got := outcomes.last(); got {
		case "timeout":
			asked = append(asked, i)
		case "breaker_open":
		default:
			t.Fatalf("page %d: the fragment's outcome %q, want timeout or breaker_open", i, got)
		}
	}
	if len(asked) > 10 {
		t.Errorf("%d of 40 pages waited the dead fragment's timeout (pages %v), want at most 10", len(asked), asked)
	}
	t.Logf("pages that waited: %v", asked)
}

// outcomes records the fragment outcomes a composer reports.
type outcomes struct {
	mu  sync.Mutex
	all []string
}

func (o *outcomes) Fragment(_, _, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, outcome)
}

func (o *outcomes) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.all) == 0 {
		return ""
	}
	return o.all[len(o.all)-1]
}
