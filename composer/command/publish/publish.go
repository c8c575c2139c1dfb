// Package publish is composer publish: a folder of templates, validated,
// then uploaded to S3 with routes.json last.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ssr-mfe/composer/composer/awsclient"
	"github.com/ssr-mfe/composer/composer/command"
	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/template"
)

// Run validates a folder of templates and, only if it is valid,
// uploads it to S3 with routes.json last.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := command.Flags("composer publish", "usage: composer publish [-create-bucket] DIR s3://bucket/prefix/\n\nValidates the templates and routes.json in DIR and, only if all is well,\nuploads them (routes.json last). Uses the standard AWS environment.\n\n", stderr)
	createBucket := fs.Bool("create-bucket", false, "create the bucket first if it does not exist (local stacks)")
	pos, err := command.Args(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	switch len(pos) {
	case 0:
		return errors.New("publish: missing DIR and s3://bucket/prefix/; see composer publish -h")
	case 1:
		return fmt.Errorf("publish: missing the s3:// location after %q; see composer publish -h", pos[0])
	case 2:
	default:
		return fmt.Errorf("publish: unexpected argument %q after DIR and s3://bucket/prefix/; see composer publish -h", pos[2])
	}
	dir, uri := pos[0], pos[1]
	loc, err := s3templates.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("publish: %q is not a folder", dir)
	}
	files, err := sources.ReadFolder(dir)
	if err == nil {
		_, err = template.BuildSet(files)
	}
	if err != nil {
		var errs template.Errors
		if !errors.As(err, &errs) {
			return fmt.Errorf("publish: %w; nothing was uploaded", err)
		}
		for _, e := range errs {
			e.File = filepath.Join(dir, e.File)
			fmt.Fprintln(stdout, e.Error())
		}
		return fmt.Errorf("publish: %s is not valid; nothing was uploaded", dir)
	}
	clients, err := awsclient.Load(ctx, getenv, command.Logger(stderr))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if *createBucket {
		if err := s3templates.EnsureBucket(ctx, clients.S3, loc.Bucket); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	written, err := s3templates.Publish(ctx, clients.S3, loc, files)
	for _, key := range written {
		fmt.Fprintf(stdout, "uploaded s3://%s/%s\n", loc.Bucket, key)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, "published %d files to %s\n", len(written), loc)
	return nil
}
