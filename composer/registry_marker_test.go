package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/awstest"
)

// fleetWorld is the AWS world with a 1,000-entry registry and its change
// marker, written by `composer register`.
func fleetWorld(t *testing.T) *awsWorld {
	t.Helper()
	w := newAWSWorld(t)
	for i := range 1000 - 15 { // newAWSWorld registers 15 under the prefix
		w.ssm.Put(fmt.Sprintf("/ssr-mfe/team%02d/f%03d", i%40, i), "http://127.0.0.1:9/", false)
	}
	w.register(t, "web", w.http)
	return w
}

func (w *awsWorld) register(t *testing.T, id, entry string) {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), []string{"composer", "register", id, entry}, w.getenv, &out, io.Discard); err != nil {
		t.Fatalf("register: %v", err)
	}
	if !strings.Contains(out.String(), "bumped /ssr-mfe/_version") {
		t.Errorf("register output: %q", out.String())
	}
}

// The goal of issue 20, measured with the local SSM stand-in (10
// parameters a page like SSM): an unchanged 1,000-entry registry costs one
// call per refresh, not 100.
func TestAWSUnchangedFleetRegistryCostsOneCallPerRefresh(t *testing.T) {
	w := fleetWorld(t)
	inst := w.start(t, map[string]string{"COMPOSER_REFRESH": "100ms"})
	if _, page := get(t, inst.base+"/p/1", nil); !strings.HasPrefix(page, "v1 [http id=1]") {
		t.Fatalf("page: %q", page)
	}
	byPath, markers := w.ssm.Calls("GetParametersByPath"), w.ssm.Calls("GetParameter")
	// Ten refreshes: ten marker reads, or (before markers) ten full reads.
	eventually(t, "ten refreshes", func() bool {
		return w.ssm.Calls("GetParameter") >= markers+10 || w.ssm.Calls("GetParametersByPath") >= byPath+10*byPath
	})
	refreshes, extra := w.ssm.Calls("GetParameter")-markers, w.ssm.Calls("GetParametersByPath")-byPath
	if refreshes == 0 {
		refreshes = extra / byPath
	}
	t.Logf("first load: %d GetParametersByPath calls; then %d refreshes: %d GetParameter, %d GetParametersByPath calls", byPath, refreshes, w.ssm.Calls("GetParameter")-markers, extra)
	if extra != 0 {
		t.Errorf("%d refreshes of an unchanged registry cost %d GetParametersByPath calls (%.1f a refresh); want none", refreshes, extra, float64(extra)/float64(refreshes))
	}
	if v := metricValue(t, inst.admin, "composer_registry_reads_total", `{kind="marker"}`); v < 10 {
		t.Errorf("marker reads = %v", v)
	}
	if v := metricValue(t, inst.admin, "composer_registry_reads_total", `{kind="full"}`); v != 1 {
		t.Errorf("full reads = %v, want 1", v)
	}
	if v := metricValue(t, inst.admin, "composer_registry_marker_age_seconds", ""); v < 0 {
		t.Errorf("marker age = %v", v)
	}
}

// `composer register` is served at the composer's next refresh: the first
// marker read after it sees the bump.
func TestAWSRegisterIsServedWithinOneRefresh(t *testing.T) {
	w := fleetWorld(t)
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, "[other]") }))
	defer other.Close()
	inst := w.start(t, map[string]string{"COMPOSER_REFRESH": "300ms"})
	get(t, inst.base+"/p/1", nil)

	w.register(t, "web", other.URL)
	registered, markers, byPath := time.Now(), w.ssm.Calls("GetParameter"), w.ssm.Calls("GetParametersByPath")
	deadline := registered.Add(safety)
	for {
		if _, page := get(t, inst.base+"/p/1", nil); strings.HasPrefix(page, "v1 [other]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registered entry was never served")
		}
		time.Sleep(2 * time.Millisecond)
	}
	served, reads, pages := time.Since(registered), w.ssm.Calls("GetParameter")-markers, w.ssm.Calls("GetParametersByPath")-byPath
	t.Logf("register to served: %v (refresh 300ms); in between: %d marker reads, %d GetParametersByPath calls", served.Round(time.Millisecond), reads, pages)
	// The first marker read after register sees the bump (the write came
	// first) and makes the one full read that serves the entry; later
	// refreshes, if this poll was slow, see the marker unchanged.
	if pages != 101 {
		t.Errorf("served after %d GetParametersByPath calls; want one full read (101)", pages)
	}
}

// A parameter written behind the composer's back, with no bump (no marker
// function deployed, or its rule disabled), is served by the full refresh,
// and the log says the marker was missed.
func TestAWSChangeWithoutBumpIsServedByTheFullRefresh(t *testing.T) {
	w := fleetWorld(t)
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, "[other]") }))
	defer other.Close()
	inst := w.start(t, map[string]string{"COMPOSER_REFRESH": "50ms", "COMPOSER_REGISTRY_FULL_REFRESH": "1s"})
	get(t, inst.base+"/p/1", nil)
	w.ssm.Put("/ssr-mfe/web", other.URL, false)
	eventually(t, "the unmarked change served", func() bool {
		_, page := get(t, inst.base+"/p/1", nil)
		return strings.HasPrefix(page, "v1 [other]")
	})
	if !strings.Contains(inst.logs.String(), "the registry's full refresh found a change its change marker did not show") {
		t.Errorf("the missed bump is not logged:\n%s", inst.logs)
	}
}

// `composer register -file` writes every entry, then bumps the marker once.
func TestRegisterFileBumpsOnce(t *testing.T) {
	w := &awsWorld{ssm: awstest.NewSSM(t)}
	w.env = awstest.Env("", w.ssm.URL, "", "")
	file := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, file, `{"a": "http://a.internal/", "b": "http://b.internal/", "c": {"endpoint": "http://c.internal/"}}`)
	var out strings.Builder
	if err := run(context.Background(), []string{"composer", "register", "-file", file}, w.getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := w.ssm.Calls("PutParameter"); n != 4 {
		t.Errorf("%d PutParameter calls, want 3 entries and 1 bump", n)
	}
	if v, ok := w.ssm.Get("/ssr-mfe/_version"); !ok || !strings.HasSuffix(v, " register a b c") {
		t.Errorf("marker = %q, %v", v, ok)
	}
	if !strings.HasSuffix(out.String(), "bumped /ssr-mfe/_version\n") {
		t.Errorf("output: %q", out.String())
	}
}
