// Package s3templates reads a template set from S3 and publishes one there.
//
// Data flow:
//
//	ListObjectsV2(prefix) --ETag changed?--> GetObject(If-None-Match) --> files --> template.BuildSet
//
// Objects whose ETag has not changed since the last read are not fetched
// again, so an unchanged bucket costs one list call per refresh. The
// caller's refresh loop jitters when that call is made (internal/jitter),
// so a fleet does not list in step.
package s3templates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/ssr-mfe/composer/composer/template"
)

// Location is a bucket and a key prefix.
type Location struct {
	Bucket string
	Prefix string // "" or ending in "/"
}

func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// ParseURI reads "s3://bucket/prefix/".
func ParseURI(uri string) (Location, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Location{}, fmt.Errorf("%q: want s3://bucket/prefix/", uri)
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Location{Bucket: u.Host, Prefix: prefix}, nil
}

// Source reads the template files under a location, remembering what it
// read. It is safe for concurrent use.
type Source struct {
	client *s3.Client
	loc    Location

	mu    sync.Mutex
	cache map[string]object // by key
}

// getConcurrency is how many GetObject calls a refresh makes at once.
const getConcurrency = 8

type object struct {
	etag string
	data []byte
}

// New returns a source for loc.
func New(client *s3.Client, loc Location) *Source {
	return &Source{client: client, loc: loc, cache: map[string]object{}}
}

// Name is the source's URI, for logs.
func (s *Source) Name() string { return s.loc.String() }

// wanted says whether a key below the prefix is part of a template set.
func wanted(name string) bool {
	return name == template.RoutesFile || path.Ext(name) == ".html"
}

// Files returns every template file (and routes.json) by path below the
// prefix. It fetches only objects that changed since the last call.
func (s *Source) Files(ctx context.Context) (map[string][]byte, error) {
	listed := map[string]string{} // key -> etag
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.loc.Bucket),
		Prefix: aws.String(s.loc.Prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.loc, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if wanted(strings.TrimPrefix(key, s.loc.Prefix)) {
				listed[key] = aws.ToString(o.ETag)
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]object, len(listed))
	keys := make([]string, 0, len(listed))
	for k := range listed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Changed objects are fetched a few at a time: a cold start with many
	// templates waits for the slowest GET, not for their sum.
	got := make([]object, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(getConcurrency)
	for i, key := range keys {
		etag := listed[key]
		if old, ok := s.cache[key]; ok && etag != "" && old.etag == etag {
			got[i] = old
			continue
		}
		cached := s.cache[key]
		g.Go(func() error {
			o, err := s.get(gctx, key, cached)
			got[i] = o
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, key := range keys {
		next[key] = got[i]
	}
	s.cache = next
	files := make(map[string][]byte, len(next))
	for key, o := range next {
		files[strings.TrimPrefix(key, s.loc.Prefix)] = o.data
	}
	return files, nil
}

// get fetches one object; with a cached copy it asks If-None-Match, and a
// 304 keeps the copy.
func (s *Source) get(ctx context.Context, key string, cached object) (object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(key)}
	if cached.etag != "" {
		in.IfNoneMatch = aws.String(cached.etag)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		var apiErr smithy.APIError
		if cached.etag != "" && errors.As(err, &apiErr) && apiErr.ErrorCode() == "NotModified" {
			return cached, nil
		}
		return object{}, fmt.Errorf("get s3://%s/%s: %w", s.loc.Bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 8<<20))
	if err != nil {
		return object{}, fmt.Errorf("read s3://%s/%s: %w", s.loc.Bucket, key, err)
	}
	return object{etag: aws.ToString(out.ETag), data: data}, nil
}

// EnsureBucket creates bucket unless it exists (for local stacks; on AWS
// the bucket belongs to the infrastructure).
func EnsureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if region := client.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	_, err := client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// Publish uploads a valid template set to loc: the templates first, then
// routes.json, so a reader never sees routes to templates not yet there.
// files must already have passed template.BuildSet. It returns the keys
// written.
func Publish(ctx context.Context, client *s3.Client, loc Location, files map[string][]byte) ([]string, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if n != template.RoutesFile {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if _, ok := files[template.RoutesFile]; ok {
		names = append(names, template.RoutesFile)
	}
	var written []string
	for _, n := range names {
		key := loc.Prefix + n
		contentType := "text/html; charset=utf-8"
		if n == template.RoutesFile {
			contentType = "application/json"
		}
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(loc.Bucket),
			Key:         aws.String(key),
			Body:        bytes.NewReader(files[n]),
			ContentType: aws.String(contentType),
		})
		if err != nil {
			return written, fmt.Errorf("put s3://%s/%s: %w", loc.Bucket, key, err)
		}
		written = append(written, key)
	}
	return written, nil
}
