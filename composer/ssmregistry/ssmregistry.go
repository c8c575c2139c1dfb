// Package ssmregistry reads the fragment registry from SSM Parameter Store,
// where fragment teams register: one parameter per fragment id under a
// prefix, "<prefix><id>" (or the original sample's "<prefix><id>ARN").
//
// Data flow, each refresh:
//
//	GetParameter(<prefix>_version) --changed, missing, or full refresh due?--> GetParametersByPath(prefix, recursive, decrypted, paginated) --> []registry.Raw --> registry.Update
//	                               --unchanged--> the last full read again (no further call)
//
// The change marker "<prefix>_version" is bumped (overwritten, which gives
// it a new version) by `composer register` and, for parameters written with
// any other tool, by the marker Lambda that an EventBridge rule on Parameter
// Store changes invokes. So an unchanged registry costs one GetParameter
// per refresh whatever its size, and the whole tree is read only when the
// marker changed, when it is missing, and every FullRefresh (jittered) as a
// safety net for writes that did not bump it.
package ssmregistry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/internal/jitter"
	"github.com/ssr-mfe/composer/composer/registry"
)

// DefaultPrefix is where fragments register unless configured otherwise.
const DefaultPrefix = "/ssr-mfe/"

// ParseURI reads "ssm:/prefix/" and returns the prefix (CheckPrefix).
func ParseURI(uri string) (string, error) {
	p, ok := strings.CutPrefix(uri, "ssm:")
	if !ok || !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q: want ssm:/prefix/", uri)
	}
	if err := CheckPrefix(p); err != nil {
		return "", fmt.Errorf("%q: %w", uri, err)
	}
	return p, nil
}

// CheckPrefix says whether p is a registry prefix as Parameter Store
// names it: starting and ending with "/", with no empty level ("//"),
// which Parameter Store would not keep as written and the change marker's
// name would not match.
func CheckPrefix(p string) error {
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("prefix %q: want a path that starts and ends with / and has no //, such as /ssr-mfe/", p)
	}
	return nil
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

// MarkerID is the id reserved for the change marker, the parameter
// "<prefix>_version": it is never read as a fragment entry and cannot be
// registered.
const MarkerID = "_version"

// MarkerName is the change marker's parameter name for prefix.
func MarkerName(prefix string) string { return NormalizePrefix(prefix) + MarkerID }

// DefaultFullRefresh is how often the whole registry is read even when the
// marker has not changed.
const DefaultFullRefresh = 10 * time.Minute

// Options tune a Source; the zero value is the default.
type Options struct {
	// FullRefresh is the safety net: the whole registry is read at least
	// this often (each period shortened by up to 20 % at random, so that a
	// fleet does not read in step). 0 means DefaultFullRefresh.
	FullRefresh time.Duration
	// Refresh is the longest wait between two calls of Raws (the refresh
	// period). When set, FullRefresh is an upper bound: a refresh reads
	// the whole registry when the next one could come after the full
	// refresh is due. When 0, the full read happens at the first refresh
	// after it is due: up to FullRefresh plus a refresh period.
	Refresh time.Duration
	// Log receives the marker's state changes (missing, found, a change it
	// missed); nil discards them.
	Log *slog.Logger
	// Metrics, if set, gets the registry's read counters and marker age.
	Metrics prometheus.Registerer
	// Now and Rand are the clock and the jitter's random source in [0, 1);
	// nil means the real ones. For tests.
	Now  func() time.Time
	Rand func() float64
}

// Source reads one prefix. It remembers its last full read, so it is meant
// for one refresh loop; calls are serialised.
type Source struct {
	client *ssm.Client
	prefix string
	marker string
	opts   Options

	mu       sync.Mutex
	raws     []registry.Raw // the last full read
	sum      [sha256.Size]byte
	seen     markerState // the marker as read just before that full read
	loaded   bool
	nextFull time.Time
	warned   string // the marker problem last logged ("missing", "denied"), so each is logged once

	// modified is the marker's LastModifiedDate at the last read, in Unix
	// nanoseconds, 0 if unknown: atomic, so that a metrics scrape never
	// waits for a slow read.
	modified atomic.Int64

	reads, calls *prometheus.CounterVec
	unmarked     prometheus.Counter
}

// markerState is what tells one marker value from another: a bump gives
// the parameter a new version (and a new value, in case it was deleted and
// created again, which restarts versions).
type markerState struct {
	version int64
	value   string
}

// New returns a source for prefix (as from ParseURI) with default options.
func New(client *ssm.Client, prefix string) *Source {
	return NewWithOptions(client, prefix, Options{})
}

// NewWithOptions returns a source for prefix with o.
func NewWithOptions(client *ssm.Client, prefix string, o Options) *Source {
	if o.FullRefresh <= 0 {
		o.FullRefresh = DefaultFullRefresh
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = jitter.Random
	}
	s := &Source{client: client, prefix: NormalizePrefix(prefix), opts: o}
	s.marker = MarkerName(s.prefix)
	s.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "composer_registry_reads_total",
		Help: "Reads of the registry in Parameter Store by kind: marker (one GetParameter of <prefix>_version, every refresh) or full (the whole tree with GetParametersByPath).",
	}, []string{"kind"})
	s.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "composer_registry_ssm_calls_total",
		Help: "Parameter Store operations made to read the registry, by operation (the SDK may retry each: HTTP attempts can be more); a full read is one GetParametersByPath per 10 parameters.",
	}, []string{"operation"})
	s.unmarked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "composer_registry_unmarked_changes_total",
		Help: "Full refreshes that found a change its change marker did not show: a bump on its way (an event takes seconds), or a writer nothing marks (is the marker function deployed and its rule enabled?).",
	})
	for _, k := range []string{"marker", "full"} {
		s.reads.WithLabelValues(k)
	}
	for _, op := range []string{"GetParameter", "GetParametersByPath"} {
		s.calls.WithLabelValues(op)
	}
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.reads, s.calls, s.unmarked, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "composer_registry_marker_age_seconds",
			Help: "Seconds since the registry's change marker last changed (its LastModifiedDate in Parameter Store, as of the last refresh): how long ago the registry last changed. -1 before the marker was read or while it does not exist.",
		}, s.markerAge))
	}
	return s
}

// Name is the source's URI, for logs.
func (s *Source) Name() string { return "ssm:" + s.prefix }

func (s *Source) markerAge() float64 {
	ns := s.modified.Load()
	if ns == 0 {
		return -1
	}
	return s.opts.Now().Sub(time.Unix(0, ns)).Seconds()
}

// Raws returns every entry below the prefix, SecureStrings decrypted:
// from a full read when the marker changed (or is missing or unreadable),
// at the first call, and when the full refresh is due; otherwise the last
// full read again, at the cost of the one marker read. An error leaves the
// last full read in place, so the next call tries again.
//
// "<prefix><id>ARN" (the original sample's naming) registers <id> unless
// "<prefix><id>" also exists, which wins. The marker is not an entry.
func (s *Source) Raws(ctx context.Context) ([]registry.Raw, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, usable, err := s.readMarker(ctx)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	if usable && s.loaded && m == s.seen && now.Add(s.opts.Refresh).Before(s.nextFull) {
		return s.raws, nil
	}
	raws, err := s.readAll(ctx)
	if err != nil {
		return nil, err
	}
	sum := rawsSum(raws)
	if usable && s.loaded && m == s.seen && sum != s.sum {
		// Either a bump is on its way (EventBridge takes seconds) or
		// nothing marks this writer; a counter tells them apart over time.
		s.unmarked.Inc()
		s.opts.Log.Info("the registry's full refresh found a change its change marker did not show",
			slog.String("source", s.Name()), slog.String("marker", s.marker),
			slog.String("hint", "normal if a bump was on its way; if it repeats, is the marker function deployed and its EventBridge rule enabled?"))
	}
	s.raws, s.sum, s.seen, s.loaded = raws, sum, m, true
	s.nextFull = now.Add(jitter.Shorten(s.opts.FullRefresh, s.opts.Rand()))
	return raws, nil
}

// readMarker reads the marker. usable is false when it does not exist or
// may not be read: then every refresh is a full read, as before markers,
// and the reason is logged once. Other errors (outage, throttling) are
// returned: the last good registry keeps serving.
func (s *Source) readMarker(ctx context.Context) (m markerState, usable bool, err error) {
	s.reads.WithLabelValues("marker").Inc()
	s.calls.WithLabelValues("GetParameter").Inc()
	out, err := s.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.marker)})
	var notFound *types.ParameterNotFound
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &notFound):
		s.modified.Store(0)
		s.warnOnce("missing", "the registry's change marker does not exist: every refresh reads the whole registry until `composer register` or the marker function creates it")
		return markerState{}, false, nil
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		s.modified.Store(0)
		s.warnOnce("denied", "the registry's change marker may not be read (grant ssm:GetParameter on it): every refresh reads the whole registry")
		return markerState{}, false, nil
	case err != nil:
		return markerState{}, false, fmt.Errorf("read %s: %w", s.marker, err)
	}
	if s.warned != "" {
		s.opts.Log.Info("the registry's change marker can be read: refreshes read only it while it does not change", slog.String("marker", s.marker))
		s.warned = ""
	}
	p := out.Parameter
	if t := aws.ToTime(p.LastModifiedDate); !t.IsZero() {
		s.modified.Store(t.UnixNano())
	}
	return markerState{version: p.Version, value: aws.ToString(p.Value)}, true, nil
}

func (s *Source) warnOnce(what, msg string) {
	if s.warned == what {
		return
	}
	s.warned = what
	s.opts.Log.Warn(msg, slog.String("source", s.Name()), slog.String("marker", s.marker))
}

// readAll reads every parameter below the prefix.
func (s *Source) readAll(ctx context.Context) ([]registry.Raw, error) {
	s.reads.WithLabelValues("full").Inc()
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
		s.calls.WithLabelValues("GetParametersByPath").Inc()
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
		if id == "" || id == MarkerID {
			continue
		}
		raws = append(raws, registry.Raw{ID: id, From: name, Data: []byte(aws.ToString(prm.Value))})
	}
	return raws, nil
}

func rawsSum(raws []registry.Raw) [sha256.Size]byte {
	sorted := make([]registry.Raw, len(raws))
	copy(sorted, raws)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].From < sorted[j].From })
	h := sha256.New()
	for _, r := range sorted {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", r.ID, r.From, len(r.Data))
		h.Write(r.Data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Bump marks a change of the registry under prefix by overwriting its
// marker (creating it if need be) with the time, a random number and what
// changed. Overwriting gives the parameter a new version, which is what
// readers compare; two bumps at once both change it, and readers need no
// more than "changed". what is for people reading the parameter's history.
func Bump(ctx context.Context, client *ssm.Client, prefix, what string) error {
	name := MarkerName(prefix)
	value := fmt.Sprintf("%s %016x %s", time.Now().UTC().Format(time.RFC3339Nano), rand.Uint64(), what)
	if len(value) > 4096 { // a standard parameter's limit
		value = value[:4096]
	}
	_, err := client.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(value),
		Type:        types.ParameterTypeString,
		Overwrite:   aws.Bool(true),
		Description: aws.String("Change marker of the composer's registry: overwritten on every change under " + NormalizePrefix(prefix) + "; composers read only it while it does not change."),
	})
	if err != nil {
		return fmt.Errorf("bump the registry's change marker %s: %w", name, err)
	}
	return nil
}

// Register validates entry and writes it as "<prefix><id>", overwriting.
func Register(ctx context.Context, client *ssm.Client, prefix, id, entry string) (string, error) {
	if err := CheckID(id); err != nil {
		return "", err
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

// CheckID says whether id can be registered: one that would not be read
// back as itself is refused. "<id>ARN" is read as <id> (the original
// sample's naming), and "_version" is the change marker.
func CheckID(id string) error {
	if !validID(id) {
		return fmt.Errorf("fragment id %q: use letters, digits and - _ . / (%q is reserved for the change marker)", id, MarkerID)
	}
	if base, ok := strings.CutSuffix(id, "ARN"); ok && base != "" {
		return fmt.Errorf("fragment id %q ends in ARN: composers read the parameter <prefix>%sARN as the fragment %q (the original sample's naming), so it would be served under another id; choose an id that does not end in ARN", id, base, base)
	}
	return nil
}

func validID(id string) bool {
	if id == MarkerID {
		return false // reserved
	}
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
