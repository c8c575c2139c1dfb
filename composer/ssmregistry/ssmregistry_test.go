package ssmregistry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

func TestParseURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ssm:/ssr-mfe/": "/ssr-mfe/", "ssm:/a/b/": "/a/b/", "ssm:/": "/"} {
		if got, err := ssmregistry.ParseURI(in); err != nil || got != want {
			t.Errorf("ParseURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ssm:relative", "/ssr-mfe/", "s3://x", "ssm:/a/b", "ssm:/race//", "ssm://race/", "ssm:/a//b/"} {
		if _, err := ssmregistry.ParseURI(in); err == nil {
			t.Errorf("ParseURI(%q): no error", in)
		}
	}
}

func TestRawsNamingAndDecryption(t *testing.T) {
	t.Parallel()
	fake := awstest.NewSSM(t)
	fake.Put("/ssr-mfe/header", "http://header/", false)
	fake.Put("/ssr-mfe/reviewsARN", "arn:aws:lambda:eu-west-1:1:function:old", false)
	fake.Put("/ssr-mfe/reviews", "arn:aws:lambda:eu-west-1:1:function:new", false)
	fake.Put("/ssr-mfe/catalogARN", "arn:aws:lambda:eu-west-1:1:function:catalog", false)
	fake.Put("/ssr-mfe/team/secret", `{"endpoint": "https://secret/"}`, true)
	fake.Put("/other/x", "http://x/", false)
	src := ssmregistry.New(ssm.NewFromConfig(awstest.Config(fake.URL)), "/ssr-mfe")
	raws, err := src.Raws(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range raws {
		got[r.ID+" <- "+r.From] = string(r.Data)
	}
	want := map[string]string{
		"header <- /ssr-mfe/header":           "http://header/",
		"reviews <- /ssr-mfe/reviews":         "arn:aws:lambda:eu-west-1:1:function:new",
		"catalog <- /ssr-mfe/catalogARN":      "arn:aws:lambda:eu-west-1:1:function:catalog",
		"team/secret <- /ssr-mfe/team/secret": `{"endpoint": "https://secret/"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	t.Parallel()
	fake := awstest.NewSSM(t)
	client := ssm.NewFromConfig(awstest.Config(fake.URL))
	for _, tt := range []struct{ id, entry string }{{"bad id", "http://x/"}, {"/abs", "http://x/"}, {"ok", "not a url"}, {"_version", "http://x/"}} {
		if _, err := ssmregistry.Register(context.Background(), client, "/ssr-mfe/", tt.id, tt.entry); err == nil {
			t.Errorf("Register(%q, %q): no error", tt.id, tt.entry)
		}
	}
	if n := fake.Calls("PutParameter"); n != 0 {
		t.Errorf("PutParameter called %d times", n)
	}
}

// fleetRegistry is a 1,000-entry registry, as a large organisation has.
func fleetRegistry(fake *awstest.SSM) {
	for i := range 1000 {
		fake.Put(fmt.Sprintf("/ssr-mfe/team%02d/f%03d", i%40, i), fmt.Sprintf("http://127.0.0.1:9/f%d", i), false)
	}
}

// An unchanged registry costs one GetParameter per refresh, whatever its
// size; today's code read the whole tree: 100 GetParametersByPath calls
// per refresh for 1,000 entries.
func TestUnchangedRegistryCostsOneCallPerRefresh(t *testing.T) {
	t.Parallel()
	fake := awstest.NewSSM(t)
	fleetRegistry(fake)
	client := ssm.NewFromConfig(awstest.Config(fake.URL))
	if err := ssmregistry.Bump(context.Background(), client, "/ssr-mfe/", "test"); err != nil {
		t.Fatal(err)
	}
	src := ssmregistry.New(client, "/ssr-mfe/")
	raws, err := src.Raws(context.Background())
	if err != nil || len(raws) != 1000 {
		t.Fatalf("first load: %d entries, %v", len(raws), err)
	}
	if n := fake.Calls("GetParametersByPath"); n != 101 {
		t.Errorf("first load: %d GetParametersByPath calls, want 101 (1,000 entries and the marker, 10 a page)", n)
	}
	const refreshes = 10
	for range refreshes {
		raws, err := src.Raws(context.Background())
		if err != nil || len(raws) != 1000 {
			t.Fatalf("refresh: %d entries, %v", len(raws), err)
		}
	}
	byPath, get := fake.Calls("GetParametersByPath")-101, fake.Calls("GetParameter")
	t.Logf("%d refreshes of an unchanged 1,000-entry registry: %d GetParametersByPath, %d GetParameter calls", refreshes, byPath, get)
	if byPath != 0 || get != refreshes+1 {
		t.Errorf("%d refreshes cost %d GetParametersByPath and %d GetParameter calls; want 0 and %d (one per refresh, one at the first load)", refreshes, byPath, get, refreshes+1)
	}
}

// world is a fake Parameter Store with a small registry and its marker, a
// source on it with a hand-driven clock, and the source's log.
type world struct {
	fake   *awstest.SSM
	client *ssm.Client
	src    *ssmregistry.Source
	now    time.Time
	log    bytes.Buffer
	reg    *prometheus.Registry
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, r float64, withMarker bool) *world {
	t.Helper()
	w := &world{fake: awstest.NewSSM(t), now: t0, reg: prometheus.NewRegistry()}
	w.client = ssm.NewFromConfig(awstest.Config(w.fake.URL), func(o *ssm.Options) { o.RetryMaxAttempts = 1 })
	w.fake.Put("/ssr-mfe/header", "http://header/", false)
	w.fake.Put("/ssr-mfe/footer", "http://footer/", false)
	if withMarker {
		w.bump(t, "setup")
	}
	w.src = ssmregistry.NewWithOptions(w.client, "/ssr-mfe/", ssmregistry.Options{
		FullRefresh: 10 * time.Minute,
		Log:         slog.New(slog.NewTextHandler(&w.log, nil)),
		Metrics:     w.reg,
		Now:         func() time.Time { return w.now },
		Rand:        func() float64 { return r },
	})
	return w
}

func (w *world) bump(t *testing.T, what string) {
	t.Helper()
	if err := ssmregistry.Bump(context.Background(), w.client, "/ssr-mfe/", what); err != nil {
		t.Fatal(err)
	}
}

// refresh is one refresh: it returns what the source serves, by id.
func (w *world) refresh(t *testing.T) map[string]string {
	t.Helper()
	raws, err := w.src.Raws(context.Background())
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	got := map[string]string{}
	for _, r := range raws {
		got[r.ID] = string(r.Data)
	}
	return got
}

func (w *world) fullReads() float64 { return w.metric("composer_registry_reads_total", "full") }

// metric is the value of the series name (with a label of value label, if
// not ""), or -2 if there is none.
func (w *world) metric(name, label string) float64 {
	mfs, err := w.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
			if label == "" {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue() // one of them is unset
			}
		}
	}
	return -2
}

func TestRegisterIsServedWithinOneRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, true)
	w.refresh(t)
	if _, err := ssmregistry.Register(context.Background(), w.client, "/ssr-mfe/", "reviews", "http://reviews/"); err != nil {
		t.Fatal(err)
	}
	w.bump(t, "register reviews") // as `composer register` does
	w.now = w.now.Add(30 * time.Second)
	if got := w.refresh(t)["reviews"]; got != "http://reviews/" {
		t.Errorf("the refresh after register serves reviews = %q", got)
	}
	if _, ok := w.refresh(t)["_version"]; ok {
		t.Error("the marker is served as an entry")
	}
}

func TestDirectWriteWithMarkerBumpIsServedWithinOneRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, true)
	w.refresh(t)
	w.fake.Put("/ssr-mfe/header", "http://header-v2/", false) // CloudFormation, Terraform, the console...
	w.fake.Delete("/ssr-mfe/footer")
	w.bump(t, "Update /ssr-mfe/header") // ...and the marker function
	w.now = w.now.Add(30 * time.Second)
	got := w.refresh(t)
	if diff := cmp.Diff(map[string]string{"header": "http://header-v2/"}, got); diff != "" {
		t.Errorf("after a direct write and a bump (-want +got):\n%s", diff)
	}
}

// A write that nobody marked is served by the full refresh, the safety net,
// and the log says the marker was missed.
func TestChangeWithoutBumpIsServedByTheFullRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, true) // r = 0: the full refresh is due exactly 10 min after the last
	w.refresh(t)
	w.fake.Put("/ssr-mfe/header", "http://header-v2/", false)
	for _, after := range []time.Duration{30 * time.Second, 5 * time.Minute, 10*time.Minute - time.Nanosecond} {
		w.now = t0.Add(after)
		if got := w.refresh(t)["header"]; got != "http://header/" {
			t.Fatalf("at +%v, without a bump: header = %q; want the old value until the full refresh", after, got)
		}
	}
	if n := w.fullReads(); n != 1 {
		t.Errorf("%v full reads before the full refresh was due, want 1 (the first load)", n)
	}
	w.now = t0.Add(10 * time.Minute)
	if got := w.refresh(t)["header"]; got != "http://header-v2/" {
		t.Errorf("at the full refresh: header = %q", got)
	}
	if !strings.Contains(w.log.String(), "the registry's full refresh found a change its change marker did not show") {
		t.Errorf("the missed marker is not logged:\n%s", w.log.String())
	}
	if n := w.metric("composer_registry_unmarked_changes_total", ""); n != 1 {
		t.Errorf("unmarked changes = %v, want 1", n)
	}
}

// The full refresh is due after FullRefresh shortened by up to 20 % with
// the injected random number: computed, not timed.
func TestFullRefreshScheduleIsJittered(t *testing.T) {
	t.Parallel()
	for r, due := range map[float64]time.Duration{0: 10 * time.Minute, 0.5: 9 * time.Minute, 0.999: 8*time.Minute + 120*time.Millisecond} {
		w := newWorld(t, r, true)
		w.refresh(t)
		w.now = t0.Add(due - time.Millisecond)
		w.refresh(t)
		if n := w.fullReads(); n != 1 {
			t.Errorf("r=%v: a full read %v before the due time %v", r, time.Millisecond, due)
		}
		w.now = t0.Add(due)
		w.refresh(t)
		if n := w.fullReads(); n != 2 {
			t.Errorf("r=%v: no full read at %v", r, due)
		}
		// The next one is scheduled from this full read.
		w.now = t0.Add(2*due - time.Millisecond)
		w.refresh(t)
		w.now = t0.Add(2 * due)
		w.refresh(t)
		if n := w.fullReads(); n != 3 {
			t.Errorf("r=%v: %v full reads at 2×%v, want 3", r, n, due)
		}
	}
}

// Without a marker every refresh reads the whole registry, as before
// markers, and says so once; the first bump creates it.
func TestMissingMarkerFallsBackToFullReads(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, false)
	for range 3 {
		if got := w.refresh(t)["header"]; got != "http://header/" {
			t.Fatalf("header = %q", got)
		}
	}
	if n := w.fullReads(); n != 3 {
		t.Errorf("%v full reads in 3 refreshes without a marker, want 3", n)
	}
	if n := strings.Count(w.log.String(), "change marker does not exist"); n != 1 {
		t.Errorf("missing marker logged %d times, want once:\n%s", n, w.log.String())
	}
	if v := w.metric("composer_registry_marker_age_seconds", ""); v != -1 {
		t.Errorf("marker age without a marker = %v, want -1", v)
	}
	w.bump(t, "register header")
	w.refresh(t) // the marker appeared: one more full read
	w.refresh(t)
	w.refresh(t)
	if n := w.fullReads(); n != 4 {
		t.Errorf("%v full reads, want 4: none once the marker exists and stays", n)
	}
	if !strings.Contains(w.log.String(), "change marker can be read") {
		t.Errorf("the marker's appearance is not logged:\n%s", w.log.String())
	}
}

// When Parameter Store cannot be reached, Raws fails (the composer keeps
// its last good copy) and the next successful refresh costs one call again.
func TestOutageThenUnchangedMarker(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, true)
	w.refresh(t)
	w.fake.SetDown(true)
	if _, err := w.src.Raws(context.Background()); err == nil {
		t.Fatal("no error while Parameter Store is down")
	}
	w.fake.SetDown(false)
	if got := w.refresh(t)["header"]; got != "http://header/" {
		t.Errorf("after the outage: header = %q", got)
	}
	if n := w.fullReads(); n != 1 {
		t.Errorf("%v full reads; an unchanged marker after an outage needs none", n)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, true)
	w.now = time.Now().Add(90 * time.Second) // the fake stamps the marker with the real clock
	w.refresh(t)
	w.refresh(t)
	for kind, want := range map[string]float64{"marker": 2, "full": 1} {
		if got := w.metric("composer_registry_reads_total", kind); got != want {
			t.Errorf("reads{kind=%q} = %v, want %v", kind, got, want)
		}
	}
	if age := w.metric("composer_registry_marker_age_seconds", ""); age < 89 || age > 120 {
		t.Errorf("marker age = %vs, want about 90", age)
	}
	if got := w.metric("composer_registry_ssm_calls_total", "GetParameter"); got != 2 {
		t.Errorf("GetParameter calls = %v, want 2", got)
	}
	if got := w.metric("composer_registry_ssm_calls_total", "GetParametersByPath"); got != 1 {
		t.Errorf("GetParametersByPath calls = %v, want 1", got)
	}
}

// The marker's name is part of the contract: infra/marker.go grants on it.
func TestMarkerName(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"/ssr-mfe/", "/ssr-mfe", "ssr-mfe"} {
		if got := ssmregistry.MarkerName(prefix); got != "/ssr-mfe/_version" {
			t.Errorf("MarkerName(%q) = %q", prefix, got)
		}
	}
}
