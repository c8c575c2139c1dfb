package command_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The imports run one way: a subcommand may use the settings, the sources
// and the dev server; none of them, nor what they use, ever imports a
// subcommand (composer/command and below).
func TestNothingBelowTheSubcommandsImportsThem(t *testing.T) {
	const module = "github.com/ssr-mfe/composer/composer/"
	for _, pkg := range []string{"settings", "sources", "dev"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+"command" || strings.HasPrefix(dep, module+"command/") {
				t.Errorf("composer/%s imports %s (directly or through another package): a subcommand may use it, never the reverse", pkg, dep)
			}
		}
	}
}
