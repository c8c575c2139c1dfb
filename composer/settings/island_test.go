package settings

import (
	"io"
	"strings"
	"testing"
)

// The island key ring: one key signs without an id; several need one; an
// id without a ring, a short key, or an island key equal to the override
// key stop start-up, and no error shows a key.
func TestIslandKeys(t *testing.T) {
	const a, b = "island-a-0123456789abcdef0123456789abcdef", "island-b-0123456789abcdef0123456789abcdef"
	parse := func(env map[string]string, args ...string) (*Config, error) {
		return Parse(args, func(k string) string { return env[k] }, io.Discard, nil)
	}
	c, err := parse(map[string]string{"COMPOSER_ISLAND_KEYS": "k1=" + a})
	if err != nil || c.Islands == nil || c.Islands.SigningID() != "k1" {
		t.Fatalf("one key: %v %v", c, err)
	}
	c, err = parse(map[string]string{"COMPOSER_ISLAND_KEYS": "old=" + a + ",new=" + b}, "-island-key-id", "new")
	if err != nil || c.Islands.SigningID() != "new" || strings.Join(c.Islands.IDs(), ",") != "new,old" {
		t.Fatalf("a ring: %v", err)
	}
	if c, err := parse(nil); err != nil || c.Islands != nil {
		t.Errorf("no keys: %v %v", c, err)
	}
	for name, env := range map[string]map[string]string{
		"several keys, no id":   {"COMPOSER_ISLAND_KEYS": "old=" + a + ",new=" + b},
		"an id not in the ring": {"COMPOSER_ISLAND_KEYS": "old=" + a, "COMPOSER_ISLAND_KEY_ID": "new"},
		"an id, no ring":        {"COMPOSER_ISLAND_KEY_ID": "new"},
		"a short key":           {"COMPOSER_ISLAND_KEYS": "k=short"},
		"the override key":      {"COMPOSER_ISLAND_KEYS": "k=" + a, "COMPOSER_OVERRIDE_KEY": a, "COMPOSER_OVERRIDE_HOSTS": "*.preview.internal"},
	} {
		_, err := parse(env)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), a) || strings.Contains(err.Error(), b) {
			t.Errorf("%s: the error shows a key: %v", name, err)
		}
	}
}
