package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Entry
	}{
		{"bare url", `https://reviews.internal/fragment`, Entry{Endpoint: "https://reviews.internal/fragment"}},
		{"json string", `"http://127.0.0.1:9000/x"`, Entry{Endpoint: "http://127.0.0.1:9000/x"}},
		{"lambda arn", `arn:aws:lambda:eu-west-1:123456789012:function:reviews`, Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:reviews"}},
		{"states arn", `"arn:aws:states:eu-west-1:123456789012:stateMachine:recs"`, Entry{Endpoint: "arn:aws:states:eu-west-1:123456789012:stateMachine:recs"}},
		{"function name with its loader", `{"endpoint": "reviews-fn", "loader": "lambda"}`, Entry{Endpoint: "reviews-fn", Loader: "lambda"}},
		{"lambda arn with the loader", `{"endpoint": "arn:aws:lambda:eu-west-1:123456789012:function:reviews", "loader": "lambda"}`, Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:reviews", Loader: "lambda"}},
		{"versions as function names", `{"endpoint": "reviews", "loader": "lambda", "versions": [{"name": "v2", "endpoint": "reviews-v2", "weight": 5}]}`,
			Entry{Endpoint: "reviews", Loader: "lambda", Versions: []Version{{Name: "v2", Endpoint: "reviews-v2", Weight: 5}}}},
		{"script objects beside plain URLs", `{"endpoint": "http://x/", "assets": {"js": [
			"/plain.js",
			{"src": "/app.js", "type": "module", "crossorigin": "anonymous", "integrity": "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"},
			{"src": "https://cdn.example/b.js", "async": true, "defer": true}]}}`,
			Entry{Endpoint: "http://x/", Assets: Assets{JS: []string{"/plain.js", "/app.js", "https://cdn.example/b.js"}, Scripts: map[string]Script{
				"/app.js":                  {Type: "module", Crossorigin: "anonymous", Integrity: "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"},
				"https://cdn.example/b.js": {Async: true, Defer: true},
			}}}},
		{"podium on", `{"endpoint": "http://x/", "podium": true}`, Entry{Endpoint: "http://x/", Podium: &Podium{}}},
		{"podium off", `{"endpoint": "http://x/", "podium": false}`, Entry{Endpoint: "http://x/"}},
		{"podium object", `{"endpoint": "http://x/", "podium": {"locale": "nb-NO", "deviceType": "mobile", "mountPathname": true, "publicPathname": "/podium-resource/x"}}`,
			Entry{Endpoint: "http://x/", Podium: &Podium{Locale: "nb-NO", DeviceType: "mobile", MountPathname: true, PublicPathname: "/podium-resource/x"}}},
		{"full object", `{
			"endpoint": "https://reviews.internal/fragment",
			"timeout": "500ms",
			"assets": {"css": ["/static/reviews/reviews.css"], "js": ["/static/reviews/reviews.js"]},
			"forwardHeaders": ["cookie", "x-ab-test"],
			"versions": [{"name": "v2", "endpoint": "arn:aws:lambda:eu-west-1:123456789012:function:reviews-v2", "weight": 10}]
		}`, Entry{
			Endpoint:       "https://reviews.internal/fragment",
			Timeout:        500 * time.Millisecond,
			Assets:         Assets{CSS: []string{"/static/reviews/reviews.css"}, JS: []string{"/static/reviews/reviews.js"}},
			ForwardHeaders: []string{"Cookie", "X-Ab-Test"},
			Versions:       []Version{{Name: "v2", Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:reviews-v2", Weight: 10}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEntry([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEntryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"empty", ``, "empty entry"},
		{"ftp", `ftp://x/y`, `scheme "ftp"`},
		{"no host", `http:///x`, "no host"},
		{"credentials", `https://u:p@x/`, "credentials"},
		{"s3 arn", `arn:aws:s3:::bucket`, "not an ARN"},
		{"sns arn", `arn:aws:sns:eu-west-1:1:topic`, `service "sns"`},
		{"spaces", `not an endpoint`, "want an http(s) URL"},
		{"no endpoint", `{"timeout": "1s"}`, `"endpoint" is missing`},
		{"unknown field", `{"endpoint": "http://x/", "timout": "1s"}`, `unknown field "timout"`},
		{"bad timeout", `{"endpoint": "http://x/", "timeout": "soon"}`, `timeout "soon"`},
		{"bad header", `{"endpoint": "http://x/", "forwardHeaders": ["a b"]}`, `"a b" is not a header name`},
		{"bad asset", `{"endpoint": "http://x/", "assets": {"css": ["javascript:alert(1)"]}}`, `scheme "javascript"`},
		{"bad script asset", `{"endpoint": "http://x/", "assets": {"js": [{"src": "javascript:alert(1)", "type": "module"}]}}`, `scheme "javascript"`},
		{"script without src", `{"endpoint": "http://x/", "assets": {"js": [{"type": "module"}]}}`, `assets.js[0]: "src" is missing`},
		{"script type", `{"endpoint": "http://x/", "assets": {"js": [{"src": "/a.js", "type": "text/babel"}]}}`, `assets.js[0]: type "text/babel"`},
		{"script crossorigin", `{"endpoint": "http://x/", "assets": {"js": [{"src": "/a.js", "crossorigin": "yes"}]}}`, `assets.js[0]: crossorigin "yes"`},
		{"script integrity", `{"endpoint": "http://x/", "assets": {"js": [{"src": "/a.js", "integrity": "md5-abc"}]}}`, `assets.js[0]: integrity "md5-abc"`},
		{"script unknown field", `{"endpoint": "http://x/", "assets": {"js": [{"src": "/a.js", "nomodule": true}]}}`, `unknown field "nomodule"`},
		{"script number", `{"endpoint": "http://x/", "assets": {"js": [42]}}`, `assets.js[0]: want a URL or an object`},
		{"podium string", `{"endpoint": "http://x/", "podium": "yes"}`, `podium: want true, or an object`},
		{"podium locale", `{"endpoint": "http://x/", "podium": {"locale": "en US"}}`, `podium: locale "en US"`},
		{"podium device", `{"endpoint": "http://x/", "podium": {"deviceType": "watch"}}`, `podium: deviceType "watch"`},
		{"podium public pathname", `{"endpoint": "http://x/", "podium": {"publicPathname": "x"}}`, `podium: publicPathname "x"`},
		{"podium unknown field", `{"endpoint": "http://x/", "podium": {"mountOrigin": "https://x"}}`, `unknown field "mountOrigin"`},
		{"weights", `{"endpoint": "http://x/", "versions": [{"name":"a","endpoint":"http://a/","weight":60},{"name":"b","endpoint":"http://b/","weight":50}]}`, "add up to 110"},
		{"unnamed version", `{"endpoint": "http://x/", "versions": [{"endpoint":"http://a/","weight":1}]}`, `versions[0]: "name" is missing`},
		{"bad version endpoint", `{"endpoint": "http://x/", "versions": [{"name":"a","endpoint":"gopher://a/","weight":1}]}`, `versions[0]: endpoint "gopher://a/"`},
		{"trailing data", `{"endpoint": "http://x/"} {}`, "data after the object"},
		// A JSON value that is neither a string nor an object was taken for a
		// function name ("42" was invoked as a Lambda function).
		{"json number", `42`, "a JSON number"},
		{"json number with spaces", ` 42 `, "a JSON number"},
		{"json bool", `true`, "a JSON boolean"},
		{"json null", `null`, "a JSON null"},
		{"json array", `["http://x/"]`, "a JSON array"},
		// A bare function name is only an object with "loader": "lambda".
		{"bare function name", `reviews-fn`, `write {"endpoint": "reviews-fn", "loader": "lambda"}`},
		{"bare function name as a JSON string", `"reviews-fn"`, `write {"endpoint": "reviews-fn", "loader": "lambda"}`},
		{"function name without its loader", `{"endpoint": "reviews-fn"}`, `add "loader": "lambda"`},
		{"version a function name without the loader", `{"endpoint": "http://x/", "versions": [{"name":"a","endpoint":"reviews-v2","weight":1}]}`, `versions[0]: endpoint "reviews-v2"`},
		{"unknown loader", `{"endpoint": "reviews-fn", "loader": "ftp"}`, `loader "ftp"`},
		{"lambda loader on a URL", `{"endpoint": "http://x/", "loader": "lambda"}`, `"loader": "lambda" with endpoint "http://x/"`},
		{"lambda loader on a state machine", `{"endpoint": "arn:aws:states:eu-west-1:1:stateMachine:s", "loader": "lambda"}`, `"loader": "lambda" with endpoint "arn:aws:states`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseEntry([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseEntry(%q) = %v, want error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestUpdateKeepsLastGoodEntry(t *testing.T) {
	t.Parallel()
	r := New(nil)
	if r.Loaded() {
		t.Fatal("new registry says it is loaded")
	}
	errs := r.Update([]Raw{
		{ID: "a", From: "/ssr-mfe/a", Data: []byte(`http://a.internal/`)},
		{ID: "b", From: "/ssr-mfe/b", Data: []byte(`http://b.internal/`)},
		{ID: "c", From: "/ssr-mfe/c", Data: []byte(`{"endpoint":`)},
	})
	if len(errs) != 1 || errs[0].ID != "c" || !strings.Contains(errs[0].Error(), "/ssr-mfe/c") {
		t.Fatalf("errors = %v, want one naming /ssr-mfe/c", errs)
	}
	errs = r.Update([]Raw{
		{ID: "a", From: "/ssr-mfe/a", Data: []byte(`{"endpoint": "nope://"}`)},
		{ID: "c", From: "/ssr-mfe/c", Data: []byte(`http://c.internal/`)},
	})
	if len(errs) != 1 || errs[0].ID != "a" {
		t.Fatalf("errors = %v, want one for a", errs)
	}
	if e, ok := r.Lookup("a"); !ok || e.Endpoint != "http://a.internal/" {
		t.Errorf("a = %+v, %v; want the last good copy", e, ok)
	}
	if _, ok := r.Lookup("b"); ok {
		t.Error("b is still registered after it was removed")
	}
	if e, _ := r.Lookup("c"); e.Endpoint != "http://c.internal/" {
		t.Errorf("c = %+v", e)
	}
	if diff := cmp.Diff([]string{"a", "c"}, r.IDs()); diff != "" {
		t.Error(diff)
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(p, []byte(`{"b": "http://b/", "a": {"endpoint": "http://a/"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	raws, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != 2 || raws[0].ID != "a" || raws[1].ID != "b" {
		t.Fatalf("raws = %+v", raws)
	}
	if err := os.WriteFile(p, []byte(`["a"]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p+":1:1: want a JSON object") {
		t.Errorf("ReadFile of an array: %v", err)
	}
}

// Every entry knows its line in the file, so that problems are reported
// as file:line: message; a file that is not JSON says where it breaks.
func TestReadFilePositions(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(p, []byte("{\n  \"a\": \"http://a/\",\n  \"nav\": 42,\n  \"obj\": {\n    \"endpoint\": \"http://o/\"\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raws, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, r := range raws {
		lines[r.ID] = r.Line
	}
	if diff := cmp.Diff(map[string]int{"a": 2, "nav": 3, "obj": 4}, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	errs := New(nil).Update(raws)
	if len(errs) != 1 || errs[0].ID != "nav" || errs[0].Line != 3 || errs[0].Kept {
		t.Fatalf("errors = %+v, want nav on line 3, with nothing kept", errs)
	}
	if got, want := errs[0].Position(), p+":3"; got != want {
		t.Errorf("Position() = %q, want %q", got, want)
	}

	for _, tt := range []struct{ content, want string }{
		{"{\n  \"a\": \"http://a/\",\n  \"b\": }\n", p + ":3:8: "},
		{"{\n  \"a\": \"http://a/\",\n", p + ":3:1: the file ends inside the object"},
		{"", p + ":1:1: the file is empty"},
		{"{\"a\": \"http://a/\", \"a\": \"http://b/\"}", p + `:1:20: fragment id "a" given twice`},
	} {
		if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(p)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ReadFile(%q) = %v, want an error starting %q", tt.content, err, tt.want)
		}
	}
}

func TestUpdateSaysWhetherALastGoodValueIsKept(t *testing.T) {
	t.Parallel()
	r := New(nil)
	errs := r.Update([]Raw{{ID: "a", Data: []byte(`42`)}})
	if len(errs) != 1 || errs[0].Kept {
		t.Fatalf("first load: %+v, want one error keeping nothing", errs)
	}
	r.Update([]Raw{{ID: "a", Data: []byte(`"http://a/"`)}})
	errs = r.Update([]Raw{{ID: "a", Data: []byte(`42`)}})
	if len(errs) != 1 || !errs[0].Kept {
		t.Fatalf("after a good value: %+v, want one error keeping it", errs)
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		`https://reviews.internal/fragment`, `"arn:aws:lambda:eu-west-1:1:function:f"`, `fn-name`,
		`{"endpoint": "http://x/", "timeout": "1s", "assets": {"css": ["/a.css"]}, "forwardHeaders": ["cookie"], "versions": [{"name": "v2", "endpoint": "http://y/", "weight": 10}], "setCookie": true}`,
		`{"endpoint": 3}`, `{`, `[]`, `null`, `42`, `{"endpoint": "fn", "loader": "lambda"}`,
		`{"endpoint": "http://x/", "timeout": "1s", "hedge": {"delay": "30ms", "budget": 0.1}}`, `{"endpoint": "http://x/", "hedge": "auto"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		if checkEndpoint(e.Endpoint, e.Loader) != nil || (e.Loader == "" && CheckEndpoint(e.Endpoint) != nil) {
			t.Fatalf("accepted entry with a bad endpoint %q", e.Endpoint)
		}
		total := 0
		for _, v := range e.Versions {
			if checkEndpoint(v.Endpoint, e.Loader) != nil || v.Weight < 0 {
				t.Fatalf("accepted a bad version %+v", v)
			}
			total += v.Weight
		}
		if total > 100 || e.Timeout < 0 {
			t.Fatalf("accepted weights %d, timeout %v", total, e.Timeout)
		}
		if h := e.Hedge; h.Budget < 0 || h.Budget > 1 || (h.Auto && h.Delay != 0) || h.Delay < 0 || h.Delay > MaxHedgeDelay ||
			(h.Delay > 0 && (h.Delay < MinHedgeDelay || e.Timeout > 0 && h.Delay >= e.Timeout)) || (h.Budget > 0 && !h.On()) {
			t.Fatalf("accepted hedge %+v with timeout %v", h, e.Timeout)
		}
	})
}

func TestChooseWeightsAndStickiness(t *testing.T) {
	t.Parallel()
	e := Entry{Endpoint: "http://stable/", Versions: []Version{
		{Name: "v2", Endpoint: "http://v2/", Weight: 10},
		{Name: "v3", Endpoint: "http://v3/", Weight: 25},
	}}
	const visitors = 10000
	counts := map[string]int{}
	for i := range visitors {
		// A deterministic spread of rolls stands in for the random draw;
		// TestChooseRandom checks the real one.
		name, _, kept := e.Choose("", (i*37)%100)
		if kept {
			t.Fatal("a new visitor kept a version")
		}
		counts[name]++
	}
	for name, want := range map[string]int{"v2": 1000, "v3": 2500, DefaultVersion: 6500} {
		if got := counts[name]; got != want {
			t.Errorf("%s: %d visitors, want %d", name, got, want)
		}
	}
	for _, current := range []string{"v2", "v3", DefaultVersion} {
		if name, _, kept := e.Choose(current, 99); name != current || !kept {
			t.Errorf("visitor on %s moved to %s", current, name)
		}
	}
	if name, _, kept := e.Choose("v1-retired", 0); kept || name != "v2" {
		t.Errorf("a retired version: %s kept=%v, want a new draw", name, kept)
	}
}

// A registry file that is not valid JSON says where, and what the file
// needed there, naming the usual slips.
func TestParseFileSyntaxSaysWhatWasExpected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, want string }{
		{"trailing comma", "{\n  \"a\": \"http://a/\",\n  \"b\": \"http://b/\",\n}\n",
			`r.json:3:19: a trailing comma: JSON allows none after the last entry; remove it`},
		{"missing comma", "{\n  \"a\": \"http://a/\"\n  \"b\": \"http://b/\"\n}\n",
			`r.json:3:3: invalid character '"' after an entry: expected ',' or '}' after an object value (a missing ',' at the end of line 2?)`},
		{"missing quote after the id", "{\n  \"a: \"http://a/\"\n}\n",
			`r.json:2:8: invalid character 'h' after the fragment id "a: ": expected ':' (a missing '"' closing the id?)`},
		{"single quotes", "{\n  'a': \"http://a/\"\n}\n",
			`r.json:2:3: invalid character '\'' where a fragment id was expected: JSON strings take double quotes`},
		{"unquoted id", "{\n  a: \"http://a/\"\n}\n",
			`r.json:2:3: invalid character 'a' where a fragment id in double quotes was expected`},
		{"trailing comma in an array", "{\n  \"a\": {\"endpoint\": \"http://a/\", \"forwardHeaders\": [\"Cookie\",]}\n}\n",
			`r.json:2:61: a trailing comma: JSON allows none after the last element; remove it`},
		{"missing closing quote", "{\n  \"a\": \"http://a/,\n  \"b\": \"http://b/\"\n}\n",
			`r.json:2:19: a line break inside a string: expected '"' to end it (a missing closing '"'?)`},
		{"missing value", "{\n  \"a\": ,\n}\n",
			`r.json:2:8: invalid character ',' where a value was expected: a string in double quotes, an object, an array, a number, true, false or null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("r.json", []byte(tc.file))
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseFile:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}
