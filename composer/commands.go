package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/template"
)

// publish validates a folder of templates and, only if it is valid,
// uploads it to S3 with routes.json last.
func publish(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer publish DIR s3://bucket/prefix/\n\nValidates the templates and routes.json in DIR and, only if all is well,\nuploads them (routes.json last). Uses the standard AWS environment.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("publish: want a folder and an s3:// location")
	}
	dir, uri := fs.Arg(0), fs.Arg(1)
	loc, err := s3templates.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("publish: %q is not a folder", dir)
	}
	files, err := template.ReadFiles(os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if _, err := template.BuildSet(files); err != nil {
		var errs template.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				e.File = filepath.Join(dir, e.File)
				fmt.Fprintln(stdout, e.Error())
			}
		}
		return fmt.Errorf("publish: %s is not valid; nothing was uploaded", dir)
	}
	clients, err := loadAWS(ctx, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	written, err := s3templates.Publish(ctx, clients.s3, loc, files)
	for _, key := range written {
		fmt.Fprintf(stdout, "uploaded s3://%s/%s\n", loc.Bucket, key)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, "published %d files to %s\n", len(written), loc)
	return nil
}

// register validates a registry entry and writes it to SSM.
func register(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", ssmregistry.DefaultPrefix, "SSM parameter prefix of the registry")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer register [-prefix /ssr-mfe/] ID ENDPOINT_OR_JSON\n\nValidates the entry and writes it to SSM as <prefix><ID> (overwriting).\nUses the standard AWS environment.\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the two arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("register: want a fragment id and an endpoint or JSON entry")
	}
	clients, err := loadAWS(ctx, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	name, err := ssmregistry.Register(ctx, clients.ssm, *prefix, pos[0], pos[1])
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	fmt.Fprintf(stdout, "registered %s\n", name)
	return nil
}
