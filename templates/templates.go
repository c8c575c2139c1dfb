// Package templates embeds the demo's page templates, error pages and
// route table, so that `go run ./composer` needs no files.
package templates

import "embed"

// FS holds every *.html file and routes.json of this folder.
//
//go:embed *.html routes.json
var FS embed.FS
