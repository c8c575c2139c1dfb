package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// helloDocBlocks extracts the code blocks of docs/fragment-protocol.md that
// a line ending in "`FILE`:" introduces, by FILE.
func helloDocBlocks(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../docs/fragment-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	if h, w := strings.Index(s, "\n## Hello, fragment\n"), strings.Index(s, "\n## "); h < 0 || h != w {
		t.Fatal("docs/fragment-protocol.md does not open with its section \"Hello, fragment\"")
	}
	blocks := map[string]string{}
	intro := regexp.MustCompile("`([^`]+)`:\n\n```[a-z]*\n")
	for _, m := range intro.FindAllStringSubmatchIndex(s, -1) {
		body := s[m[1]:]
		end := strings.Index(body, "```")
		if end < 0 {
			t.Fatalf("the block of %s is never closed", s[m[2]:m[3]])
		}
		blocks[s[m[2]:m[3]]] = body[:end]
	}
	for _, name := range []string{"hello.go", "hello.mjs", "registry.json", "hello/hello.html", "hello/routes.json"} {
		if blocks[name] == "" {
			t.Fatalf("docs/fragment-protocol.md has no block for %s (found %d blocks)", name, len(blocks))
		}
	}
	return blocks
}

// freeAddr is a loopback address nothing listens on, for a server that is
// told where to listen.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startServer runs cmd with ADDR=addr until the test ends, and waits for
// it to answer.
func startServer(t *testing.T, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "ADDR="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(safety)
	for {
		resp, err := http.Get("http://" + addr + "/?name=probe")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v did not answer on %s: %v", name, args, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The protocol page opens with a fragment server in Go and one in Node,
// the registry file and the template that use them: run as written, they
// make a page with both greetings.
func TestHelloFragmentFromTheDocs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		msg := "node is not installed (apt-get install -y nodejs): the Node example needs it"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	blocks := helloDocBlocks(t)
	dir := t.TempDir()
	for name, body := range blocks {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	goBin := filepath.Join(dir, "hello-go")
	build := exec.Command("go", "build", "-o", goBin, "hello.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build hello.go: %v\n%s", err, out)
	}
	goAddr, nodeAddr := freeAddr(t), freeAddr(t)
	startServer(t, goAddr, goBin)
	startServer(t, nodeAddr, node, filepath.Join(dir, "hello.mjs"))

	// The registry as written, at the ports this test could have.
	reg := strings.NewReplacer("127.0.0.1:3001", goAddr, "127.0.0.1:3002", nodeAddr).Replace(blocks["registry.json"])
	if reg == blocks["registry.json"] {
		t.Fatal("the registry block no longer names 127.0.0.1:3001 and 127.0.0.1:3002")
	}
	regFile := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regFile, []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"composer", "validate", filepath.Join(dir, "hello"), "-registry", regFile}, os.Getenv, &out, &out); err != nil {
		t.Fatalf("validate: %v\n%s", err, out.String())
	}
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": filepath.Join(dir, "hello"), "COMPOSER_REGISTRY": regFile})
	status, page := fetchPage(t, inst.base+"/hello?name=you")
	if status != 200 {
		t.Fatalf("/hello: %d\n%s", status, page)
	}
	for _, want := range []string{`<p class="hello">Hello, you, from Go</p>`, `<p class="hello">Hello, you, from Node</p>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "is resting") || strings.Contains(page, "<micro-frontend") {
		t.Errorf("a fallback or a slot's tag in the page:\n%s", page)
	}
}
