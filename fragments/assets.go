package fragments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The demo's static files are linked by fingerprinted names, computed at
// start-up from the embedded bytes: /static/shell/shell.css is linked as
// /static/shell/shell.<12 hex digits of its SHA-256>.css. A changed file
// gets a new name, so its name can be kept for a year by browsers and
// CDNs; the plain name is still served, kept briefly, for links written
// by hand (the compose registry, the CDK stack's example entry).
var assetNames, assetFiles = fingerprintAll(staticFS, "static")

// immutable is the Cache-Control of a fingerprinted name.
const immutable = "public, max-age=31536000, immutable"

// fingerprintAll maps every file under dir of fsys from its URL path
// (/static/...) to its fingerprinted one, and back.
func fingerprintAll(fsys fs.FS, dir string) (names, files map[string]string) {
	names, files = map[string]string{}, map[string]string{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		named := "/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		names["/"+p] = named
		files[named] = "/" + p
		return nil
	})
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	return names, files
}

// Asset returns the fingerprinted name of a static file given by its
// plain path, such as /static/shell/shell.css. It panics on a path that
// names no file: links are written in the code, and a typo is a bug.
func Asset(plain string) string {
	named, ok := assetNames[plain]
	if !ok {
		panic(fmt.Sprintf("fragments.Asset(%q): no such static file", plain))
	}
	return named
}

// Plain returns the plain path of a fingerprinted name, and any other
// path as it is.
func Plain(named string) string {
	if plain, ok := assetFiles[named]; ok {
		return plain
	}
	return named
}

// FingerprintLinks rewrites, in the .html files of files, every quoted
// plain path of a static file ("/static/shell/shell.css") to its
// fingerprinted name: the embedded demo templates link the shell's
// stylesheet so.
func FingerprintLinks(files map[string][]byte) {
	for name, b := range files {
		if path.Ext(name) != ".html" {
			continue
		}
		for plain, named := range assetNames {
			b = bytes.ReplaceAll(b, []byte(`"`+plain+`"`), []byte(`"`+named+`"`))
		}
		files[name] = b
	}
}

// Static serves the fragments' CSS, JS and images under /static/: by
// their fingerprinted names, to be kept a year, and by their plain names,
// to be kept five minutes.
func Static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain, ok := assetFiles[r.URL.Path]
		if !ok {
			// A missing file or a folder (no listings) is a 404 that no
			// one keeps: the file may be there after the next deploy.
			name := strings.TrimPrefix(r.URL.Path, "/static/")
			if st, err := fs.Stat(sub, name); err != nil || st.IsDir() || name == "" {
				w.Header().Set("Cache-Control", "no-store")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("X-Content-Type-Options", "nosniff")
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, "404 page not found\n")
				return
			}
			w.Header().Set("Cache-Control", "public, max-age=300")
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", immutable)
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = plain, ""
		files.ServeHTTP(w, r2)
	})
}
