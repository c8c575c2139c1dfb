package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/fragments"
)

// There is no Docker engine where the tests run, so the compose stack is
// checked against the code: its services, ports, environment and commands,
// and its seeding commands are run against the in-repo S3 and SSM fakes.

type composeFile struct {
	Services map[string]struct {
		Build       struct{ Target string }
		Image       string
		Command     []string
		Environment map[string]string
		Ports       []string
		DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	}
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// imagePaths maps paths inside the composer image to the repository, as
// the Dockerfile's COPY lines put them there.
var imagePaths = map[string]string{
	"/templates":                    "../templates",
	"/deploy/compose-registry.json": "../deploy/compose-registry.json",
}

func TestComposeFileAgreesWithTheCode(t *testing.T) {
	c := readCompose(t)
	for _, name := range []string{"localstack", "fragments", "seed-templates", "seed-registry", "composer"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for inImage := range imagePaths {
		if !strings.Contains(string(dockerfile), " "+inImage) {
			t.Errorf("the Dockerfile does not COPY %s", inImage)
		}
	}
	for _, target := range []string{"AS fragments", "AS composer"} {
		if !strings.Contains(string(dockerfile), target) {
			t.Errorf("the Dockerfile has no stage %q", target)
		}
	}

	comp := c.Services["composer"]
	known := map[string]bool{}
	for _, s := range settings.All {
		known[s.Env] = true
	}
	for k := range comp.Environment {
		if !known[k] && !strings.HasPrefix(k, "AWS_") {
			t.Errorf("composer environment %s is not a setting of the composer", k)
		}
	}
	env := func(k string) string { return comp.Environment[k] }
	cfg, err := settings.Parse(nil, env, io.Discard, nil)
	if err != nil {
		t.Fatalf("the compose environment does not configure the composer: %v", err)
	}
	if !slices.Contains(comp.Ports, "8080:8080") || cfg.Addr != ":8080" {
		t.Errorf("ports %v and COMPOSER_ADDR %q disagree", comp.Ports, cfg.Addr)
	}
	if got := c.Services["seed-templates"].Command; len(got) < 1 || got[len(got)-1] != cfg.Templates {
		t.Errorf("seed-templates publishes to %v, the composer reads %s", got, cfg.Templates)
	}
	prefix, err := ssmregistry.ParseURI(cfg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Services["seed-registry"].Command, " "); !strings.Contains(got, "-prefix "+prefix) {
		t.Errorf("seed-registry (%s) does not write under %s", got, prefix)
	}
	for _, dep := range []string{"seed-templates", "seed-registry"} {
		if comp.DependsOn[dep].Condition != "service_completed_successfully" {
			t.Errorf("the composer does not wait for %s", dep)
		}
	}

	// The registry points at the fragments service, one port a fragment in
	// the order the fragments command serves them, with their assets.
	basePort := 9001
	if cmd := c.Services["fragments"].Command; len(cmd) != 4 || cmd[2] != "-base-port" || cmd[3] != fmt.Sprint(basePort) {
		t.Errorf("fragments command %v, want -base-port %d", cmd, basePort)
	}
	raws, err := registry.ReadFile(imagePaths["/deploy/compose-registry.json"])
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(nil)
	if errs := reg.Update(raws); len(errs) > 0 {
		t.Fatalf("compose registry: %v", errs)
	}
	for i, f := range fragments.All(0) {
		e, ok := reg.Lookup(f.Name)
		if !ok {
			t.Errorf("fragment %s is not in the compose registry", f.Name)
			continue
		}
		if want := fmt.Sprintf("http://fragments:%d/", basePort+i); e.Endpoint != want {
			t.Errorf("%s: endpoint %s, want %s", f.Name, e.Endpoint, want)
		}
		// The file is written by hand: it names the assets by their plain
		// paths, which the fragments service serves too.
		plain := func(paths []string) []string {
			var out []string
			for _, p := range paths {
				out = append(out, fragments.Plain(p))
			}
			return out
		}
		if !slices.Equal(e.Assets.CSS, plain(f.CSS)) || !slices.Equal(e.Assets.JS, plain(f.JS)) {
			t.Errorf("%s: assets %v, the fragment declares %v %v", f.Name, e.Assets, f.CSS, f.JS)
		}
	}
	wantProxy := map[string]string{"/static/": fmt.Sprintf("fragments:%d", basePort-1), "/api/reviews/": fmt.Sprintf("fragments:%d", basePort+2)}
	got := map[string]string{}
	for prefix, u := range cfg.Proxies {
		got[prefix] = u.Host
	}
	if !maps.Equal(got, wantProxy) {
		t.Errorf("COMPOSER_PROXY routes %v, want %v (static on base-port - 1, reviews third)", got, wantProxy)
	}
}

func TestComposeSeedingAgainstFakes(t *testing.T) {
	c := readCompose(t)
	s3fake := awstest.NewS3(t) // no bucket yet: publish -create-bucket makes it
	ssmfake := awstest.NewSSM(t)
	env := awstest.Env(s3fake.URL, ssmfake.URL, "", "")
	for _, name := range []string{"seed-templates", "seed-registry"} {
		args := []string{"composer"}
		for _, a := range c.Services[name].Command {
			if local, ok := imagePaths[a]; ok {
				a = local
			}
			args = append(args, a)
		}
		var out strings.Builder
		if err := run(context.Background(), args, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
			t.Fatalf("%s (%v): %v\n%s", name, args, err, out.String())
		}
	}
	for _, f := range fragments.All(0) {
		v, ok := ssmfake.Get("/ssr-mfe/" + f.Name)
		if !ok {
			t.Errorf("%s not registered", f.Name)
			continue
		}
		var e map[string]any
		if json.Unmarshal([]byte(v), &e) != nil {
			t.Errorf("%s: %q", f.Name, v)
		}
	}
	// The composer, configured as in the compose file but pointed at the
	// fakes, starts from what the seeding wrote.
	comp := c.Services["composer"].Environment
	runEnv := maps.Clone(comp)
	maps.Copy(runEnv, env)
	delete(runEnv, "AWS_ENDPOINT_URL")
	delete(runEnv, "COMPOSER_ADDR")
	runEnv["COMPOSER_SNAPSHOT_DIR"] = t.TempDir()
	inst := start(t, runEnv)
	if status, body := fetchPage(t, inst.base+"/readyz"); status != 200 {
		t.Fatalf("readyz: %d %s\n%s", status, body, inst.logs)
	}
	logs := inst.logs.String()
	if !strings.Contains(logs, `"msg":"templates published","source":"s3://pages/site/"`) || !strings.Contains(logs, `"entries":6`) {
		t.Errorf("not started from the seeded stores:\n%s", logs)
	}
	// The fragments service is not here: the product (required) fails, and
	// the page is the error page, served the production way.
	if status, body := fetchPage(t, inst.base+"/productdetails"); status < 500 || !strings.Contains(body, "not available right now") {
		t.Errorf("page without the fragments service: %d", status)
	}

}
