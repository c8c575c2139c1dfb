// Package ssmregistry reads the fragment registry from SSM Parameter Store,
// where fragment teams register: one parameter per fragment id under a
// prefix, "<prefix><id>" (or the original sample's "<prefix><id>ARN").
//
// Data flow:
//
//	GetParametersByPath(prefix, recursive, decrypted, paginated) --> []registry.Raw --> registry.Update
package ssmregistry

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ssr-mfe/composer/composer/registry"
)

// DefaultPrefix is where fragments register unless configured otherwise.
const DefaultPrefix = "/ssr-mfe/"

// ParseURI reads "ssm:/prefix/" and returns the prefix, ending in "/".
func ParseURI(uri string) (string, error) {
	p, ok := strings.CutPrefix(uri, "ssm:")
	if !ok || !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q: want ssm:/prefix/", uri)
	}
	return NormalizePrefix(p), nil
}

// NormalizePrefix makes a prefix start and end with "/".
func NormalizePrefix(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// Source reads one prefix.
type Source struct {
	client *ssm.Client
	prefix string
}

// New returns a source for prefix (as from ParseURI).
func New(client *ssm.Client, prefix string) *Source {
	return &Source{client: client, prefix: NormalizePrefix(prefix)}
}

// Name is the source's URI, for logs.
func (s *Source) Name() string { return "ssm:" + s.prefix }

// Raws reads every parameter below the prefix, SecureStrings decrypted.
// "<prefix><id>ARN" (the original sample's naming) registers <id> unless
// "<prefix><id>" also exists, which wins.
func (s *Source) Raws(ctx context.Context) ([]registry.Raw, error) {
	path := strings.TrimSuffix(s.prefix, "/")
	if path == "" {
		path = "/"
	}
	var params []types.Parameter
	p := ssm.NewGetParametersByPathPaginator(s.client, &ssm.GetParametersByPathInput{
		Path:           aws.String(path),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(true),
		MaxResults:     aws.Int32(10),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Name(), err)
		}
		params = append(params, page.Parameters...)
	}
	names := map[string]bool{}
	for _, prm := range params {
		names[aws.ToString(prm.Name)] = true
	}
	raws := make([]registry.Raw, 0, len(params))
	for _, prm := range params {
		name := aws.ToString(prm.Name)
		id := strings.TrimPrefix(name, s.prefix)
		if base, ok := strings.CutSuffix(id, "ARN"); ok && base != "" {
			if names[s.prefix+base] {
				continue // "<id>" wins over "<id>ARN"
			}
			id = base
		}
		if id == "" {
			continue
		}
		raws = append(raws, registry.Raw{ID: id, From: name, Data: []byte(aws.ToString(prm.Value))})
	}
	return raws, nil
}

// Register validates entry and writes it as "<prefix><id>", overwriting.
func Register(ctx context.Context, client *ssm.Client, prefix, id, entry string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("fragment id %q: use letters, digits and - _ . /", id)
	}
	if _, err := registry.ParseEntry([]byte(entry)); err != nil {
		return "", fmt.Errorf("entry for %q: %w", id, err)
	}
	name := NormalizePrefix(prefix) + id
	_, err := client.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(name),
		Value:     aws.String(entry),
		Type:      types.ParameterTypeString,
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("put parameter %s: %w", name, err)
	}
	return name, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 200 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r)) {
			return false
		}
	}
	return true
}
