package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeListsEverySetting keeps the README's configuration table true.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := "| `" + s.env + "` | `-" + s.flag + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"COMPOSER_ADDR": ":9000", "COMPOSER_REFRESH": "5s"}
	c, err := parseConfig([]string{"-addr", ":9100"}, func(k string) string { return env[k] }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":9100" || c.refresh.String() != "5s" || c.fragmentTimeout.String() != "2s" {
		t.Errorf("config = %+v", c)
	}
}
