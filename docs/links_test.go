// Package docs holds the composer's contract, written for people. Its only
// code is the test that keeps the Markdown's links inside the repository
// and pointing at something that exists.
package docs

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mdLink matches an inline Markdown link or image: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestMarkdownLinksResolve checks every relative link of every Markdown file
// in the repository: the file it names exists, inside the repository, and
// an anchor names a heading of that file. A clone has nothing outside the
// repository, so a link there is broken for every reader.
func TestMarkdownLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "out" || d.Name() == "artifacts" || d.Name() == "cdk.out") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d Markdown files under %s; expected the README and docs/", len(files), root)
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for i, line := range strings.Split(stripCode(string(b)), "\n") {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				u, err := url.Parse(target)
				if err != nil {
					t.Errorf("%s:%d: link %q: %v", rel, i+1, target, err)
					continue
				}
				if u.Scheme != "" || strings.HasPrefix(target, "//") {
					continue // an absolute URL; not this test's business
				}
				dest := f
				switch {
				case strings.HasPrefix(u.Path, "/"): // from the repository's root, as GitHub reads it
					dest = filepath.Join(root, filepath.FromSlash(u.Path))
				case u.Path != "":
					dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(u.Path))
				}
				if r, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s:%d: link %q leaves the repository", rel, i+1, target)
					continue
				}
				info, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s:%d: link %q: no such file", rel, i+1, target)
					continue
				}
				checked++
				if u.Fragment != "" && !info.IsDir() && strings.HasSuffix(dest, ".md") {
					if !hasAnchor(dest, u.Fragment) {
						t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", rel, i+1, target, filepath.Base(dest), u.Fragment)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link was checked; the link pattern is broken")
	}
}

// stripCode blanks fenced code blocks (keeping line numbers), whose
// brackets are code, not links.
func stripCode(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
		} else if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// hasAnchor reports whether file has a heading whose GitHub-style anchor is
// anchor: lower case, spaces to '-', punctuation other than '-' and '_'
// dropped.
func hasAnchor(file, anchor string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(stripCode(string(b)), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				a.WriteRune(r)
			}
		}
		if a.String() == anchor {
			return true
		}
	}
	return false
}
