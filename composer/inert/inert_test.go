package inert

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// The activator is the same text in HTML and inside <svg> or <math>,
// where character references decode and "<" starts a tag: one hash
// allows it everywhere.
func TestActivatorReadsTheSameInEveryNamespace(t *testing.T) {
	if strings.Contains(Activator, "<") || regexp.MustCompile(`&[A-Za-z0-9#]`).MatchString(Activator) {
		t.Fatal("the activator holds a < or a character reference")
	}
	for _, wrap := range []string{"%s", "<svg>%s</svg>", "<math>%s</math>"} {
		doc, err := html.Parse(strings.NewReader(strings.Replace(wrap, "%s", Tag, 1)))
		if err != nil {
			t.Fatal(err)
		}
		var text string
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "script" && n.FirstChild != nil {
				text = n.FirstChild.Data
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if text != Activator {
			t.Errorf("%s: the script's text is not the activator", wrap)
		}
	}
}
