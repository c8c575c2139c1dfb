// Package override is composer override: a token, signed with the
// composer's override key, that points fragments at a team's preview for
// the requests that carry it.
package override

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/ssr-mfe/composer/composer/command"
	"github.com/ssr-mfe/composer/composer/fetch"
	token "github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/settings"
)

// maxOverrideTTL is the longest life of an override token: long enough
// for a week of work on a preview, short enough that a token that leaked
// stops working by itself.
const maxOverrideTTL = token.MaxTTL

// minOverrideTTL is the shortest life of an override token.
const minOverrideTTL = time.Minute

// Run runs `composer override ID=URL... [-debug] [-ttl 8h|2d]
// [-key-file FILE]`: it signs a token with the composer's override key and
// prints it alone on stdout; what it grants, until when and how to use it
// go to stderr. The key comes from COMPOSER_OVERRIDE_KEY or a file, never
// from the command line, which other users of the machine can read.
func Run(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := command.Flags("composer override", "usage: composer override ID=URL... [-debug] [-ttl 8h|2d] [-key-file FILE]\n       composer override -debug [-ttl 8h|2d] [-key-file FILE]\n\n"+
		"Signs a token that, on the requests that carry it (the Mfe-Override header, or the\n"+
		"mfe-override cookie that /_composer/overrides sets), serves fragment ID from URL\n"+
		"instead of its registry entry's endpoint. The token alone goes to stdout.\n"+
		"The key is the composer's COMPOSER_OVERRIDE_KEY, read from that variable or from\n"+
		"-key-file, never from the command line. URLs must be on COMPOSER_OVERRIDE_HOSTS.\n\n", stderr)
	debug := fs.Bool("debug", false, "allow the debug view (?_debug=1) for the requests that carry the token")
	ttlText := fs.String("ttl", "8h", "how long the token works: a duration such as 8h or 90m, or whole days such as 2d; at most 7d")
	keyFile := fs.String("key-file", "", "read the key from this file (a regular file of at most 4 KiB; surrounding whitespace is ignored) instead of COMPOSER_OVERRIDE_KEY")
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "key" || name == "override-key") {
			return errors.New("override: the key is never taken from the command line (other users of the machine can read it): set COMPOSER_OVERRIDE_KEY or give -key-file FILE")
		}
	}
	pos, err := command.Args(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	ttl, ok := parseTTL(*ttlText)
	switch {
	case !ok:
		return fmt.Errorf("override: -ttl %q: want a duration such as 8h, 90m or 2d (whole days), at most 7d", *ttlText)
	case ttl <= 0 || ttl > maxOverrideTTL:
		return fmt.Errorf("override: -ttl %s: want a positive duration of at most %s (7 days)", *ttlText, maxOverrideTTL)
	case ttl < minOverrideTTL:
		return fmt.Errorf("override: -ttl %s: want at least %s (a shorter token may expire before it is used, or be taken for expired by a composer whose clock is a little ahead)", *ttlText, minOverrideTTL)
	}
	frags := map[string]string{}
	var ids []string
	for _, p := range pos {
		id, u, ok := strings.Cut(p, "=")
		switch {
		case !ok || id == "" || strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return fmt.Errorf("override: %q: want ID=URL, such as reviews=https://preview.internal/fragment", p)
		case frags[id] != "":
			return fmt.Errorf("override: fragment %q given twice", id)
		}
		if err := token.CheckURL(u); err != nil {
			return fmt.Errorf("override: %s: %w", id, err)
		}
		frags[id] = u
		ids = append(ids, id)
	}
	if len(frags) == 0 && !*debug {
		return errors.New("override: nothing to grant: give ID=URL pairs, -debug, or both; see composer override -h")
	}
	key, err := overrideCommandKey(*keyFile, getenv)
	if err != nil {
		return fmt.Errorf("override: %w", err)
	}
	t := token.Token{Fragments: frags, Debug: *debug, Expires: time.Now().Add(ttl)}
	tok, err := token.Sign(key, t)
	if err != nil {
		return fmt.Errorf("override: %w", err)
	}
	for _, id := range ids {
		u, _ := url.Parse(frags[id])
		ip, err := netip.ParseAddr(u.Hostname())
		switch {
		case err != nil:
		case fetch.RefusedAddress(ip, true) != "":
			fmt.Fprintf(stderr, "warning: %s: %s is %s: the composer always refuses it\n", id, ip, fetch.RefusedAddress(ip, true))
		case fetch.RefusedAddress(ip, false) != "":
			fmt.Fprintf(stderr, "warning: %s: %s is %s: the composer refuses it outside composer dev\n", id, ip, fetch.RefusedAddress(ip, false))
		}
	}
	if hosts := getenv("COMPOSER_OVERRIDE_HOSTS"); hosts != "" {
		patterns := strings.Split(hosts, ",")
		for _, id := range ids {
			if u, _ := url.Parse(frags[id]); !fetch.MatchHost(patterns, u.Hostname()) {
				fmt.Fprintf(stderr, "warning: %s: host %s is not in COMPOSER_OVERRIDE_HOSTS (%s): the composer will refuse this override\n", id, u.Hostname(), hosts)
			}
		}
	}
	fmt.Fprintln(stdout, tok)
	slices.Sort(ids)
	var grants []string
	for _, id := range ids {
		grants = append(grants, id+" from "+frags[id])
	}
	if *debug {
		grants = append(grants, "the debug view (?_debug=1)")
	}
	fmt.Fprintf(stderr, "override token: %s; valid until %s (%s).\n"+
		"Use it: send it as the header %s: TOKEN, or paste it at /_composer/overrides on the site to keep it in a cookie of your browser.\n",
		strings.Join(grants, ", "), t.Expires.UTC().Truncate(time.Second).Format(time.RFC3339), ttl, token.Header)
	return nil
}

// parseTTL reads -ttl: a Go duration (8h, 90m, 1h30m) or whole days (2d),
// the unit people think of a week of work in.
func parseTTL(s string) (time.Duration, bool) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 10000 {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// overrideCommandKey is the key of composer override: -key-file's, else
// COMPOSER_OVERRIDE_KEY's. Its errors never hold the key.
func overrideCommandKey(keyFile string, getenv func(string) string) ([]byte, error) {
	if keyFile != "" {
		b, err := readKeyFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("-key-file %s: %w", keyFile, err)
		}
		key, err := settings.OverrideKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("-key-file %s: %w", keyFile, err)
		}
		return key, nil
	}
	v := getenv("COMPOSER_OVERRIDE_KEY")
	if v == "" {
		return nil, errors.New("no key: set COMPOSER_OVERRIDE_KEY to the composer's, or give -key-file FILE")
	}
	key, err := settings.OverrideKey(v)
	if err != nil {
		return nil, fmt.Errorf("COMPOSER_OVERRIDE_KEY: %w", err)
	}
	return key, nil
}

// maxKeyFile is the longest key file -key-file reads: a key is a few
// dozen bytes; anything much longer is some other file.
const maxKeyFile = 4 << 10

// readKeyFile reads the key file name: a regular file (a device would never
// end, a FIFO would block) of at most maxKeyFile bytes. It is opened
// without blocking and checked again once open, so a file swapped after
// the first check is refused as well. Its errors never hold the key.
func readKeyFile(name string) ([]byte, error) {
	if fi, err := os.Stat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s): give a file that holds the key", fi.Mode().Type())
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s): give a file that holds the key", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("longer than %d bytes: not a key", maxKeyFile)
	}
	return b, nil
}
