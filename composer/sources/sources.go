// Package sources loads the template set and the registry and keeps them
// current: where they come from (Open: the embedded demo, a local folder
// or file, S3, Parameter Store), the checks validate and start-up share
// (check.go), the first load, the refresh loop that publishes a good change
// whole and refuses a bad one, and the snapshot a cold start falls back on.
//
//	Open --> Inputs --> New --> Sources.FirstLoad --> Sources.Loop (every COMPOSER_REFRESH)
//	                                 |                    |
//	                                 +--> server.SetTemplates, registry.Update (swapped whole)
package sources

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/internal/jitter"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
)

// TemplateSource is where the template set comes from: a folder, the
// embedded demo, or S3.
type TemplateSource interface {
	Name() string
	Files(ctx context.Context) (map[string][]byte, error)
}

// RegistrySource is where the registry comes from: a file, the demo, or SSM.
type RegistrySource interface {
	Name() string
	Raws(ctx context.Context) ([]registry.Raw, error)
}

// dirSource is a folder of templates on disk (dir), or an embedded one
// (fsys).
type dirSource struct {
	name string
	dir  string
	fsys fs.FS
}

func (d dirSource) Name() string { return d.name }

func (d dirSource) Files(context.Context) (map[string][]byte, error) {
	if d.dir != "" {
		return ReadFolder(d.dir) // its errors name the folder
	}
	files, err := template.ReadFiles(d.fsys)
	var pe *fs.PathError
	if err != nil && errors.As(err, &pe) {
		// The paths are relative to the folder ("stat ."): name it.
		return nil, fmt.Errorf("read templates: %w", &fs.PathError{Op: pe.Op, Path: filepath.Join(d.name, filepath.FromSlash(pe.Path)), Err: pe.Err})
	}
	return files, err
}

// ReadFolder reads a folder of templates on disk: through an os.Root,
// opened anew each time (the folder may have been replaced), so that no
// symbolic link leads outside it; only regular files are read.
func ReadFolder(dir string) (map[string][]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	defer root.Close()
	return template.ReadFiles(root.FS())
}

// demoTemplates are the embedded demo templates, their links to the demo's
// static files rewritten to the files' fingerprinted names.
type demoTemplates struct{ dirSource }

func (d demoTemplates) Files(ctx context.Context) (map[string][]byte, error) {
	files, err := d.dirSource.Files(ctx)
	if err == nil {
		fragments.FingerprintLinks(files)
	}
	return files, err
}

type fileRegistry struct{ path string }

func (f fileRegistry) Name() string { return f.path }

func (f fileRegistry) Raws(context.Context) ([]registry.Raw, error) {
	return registry.ReadFile(f.path)
}

type fixedRegistry struct {
	name string
	data []byte
}

func (f fixedRegistry) Name() string { return f.name }

func (f fixedRegistry) Raws(context.Context) ([]registry.Raw, error) {
	return registry.ParseFile(f.name, f.data)
}

// Sources keeps the server's templates and registry current: it re-reads
// both every refresh, publishes what changed, keeps the last good copy of
// what broke or could not be read (static stability), writes every good
// load to the snapshot folder, and starts from that snapshot when a source
// is down (or holds nothing that loads) at start-up. A change it refuses is
// counted and remembered in refused, for /readyz and the admin listener.
type Sources struct {
	log       *slog.Logger
	srv       *server.Server
	reg       *registry.Registry
	templates TemplateSource
	registry  RegistrySource
	snapshots string // folder, or "" for none
	timeout   time.Duration
	refused   *Refusals

	refreshing                 sync.Mutex
	mu                         sync.Mutex
	templatesSum, registrySum  [sha256.Size]byte
	templatesOK, registryOK    time.Time // last successful read from the source
	templatesDown, regDown     bool
	templatesDownAt, regDownAt time.Time                    // when the source's outage began
	badRegistryFile            string                       // the last registry file error reported
	badEntries                 map[string][sha256.Size]byte // refused entries already counted, by id

	errors *prometheus.CounterVec
	rand   func() float64 // the refresh jitter's source, in [0, 1)

	crossCheck bool // after every refresh, check templates against registry as validate does
}

// New makes the sources of srv's templates and reg's entries; nothing is
// read before FirstLoad. refused (nil: a private one) keeps what was
// refused, for /readyz; metrics (nil: none) gets the sources' metrics.
func New(log *slog.Logger, srv *server.Server, reg *registry.Registry, t TemplateSource, r RegistrySource, snapshots string, refused *Refusals, metrics prometheus.Registerer) *Sources {
	s := &Sources{log: log, srv: srv, reg: reg, templates: t, registry: r, snapshots: snapshots, timeout: 30 * time.Second, rand: jitter.Random, refused: refused}
	if s.refused == nil {
		s.refused = NewRefusals(nil)
	}
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "composer_source_errors_total",
		Help: "Failed reads of the template or registry source.",
	}, []string{"source"})
	for _, source := range []string{"templates", "registry"} {
		s.errors.WithLabelValues(source) // present at 0, for alerts on increase
	}
	age := func(kind string, at func() time.Time) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "composer_source_age_seconds",
			Help:        "Seconds since the source was last read successfully (-1 before the first read): how stale what is served may be.",
			ConstLabels: prometheus.Labels{"source": kind},
		}, func() float64 {
			t := at()
			if t.IsZero() {
				return -1
			}
			return time.Since(t).Seconds()
		})
	}
	if metrics != nil {
		metrics.MustRegister(s.errors,
			age("templates", func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.templatesOK }),
			age("registry", func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.registryOK }))
	}
	return s
}

// Loop refreshes until ctx is done. Each wait is every shortened by up to
// 20 % at random (jitter.Shorten), so that a fleet started together does
// not list S3 and read Parameter Store in step, and every stays the upper
// bound of how long a change takes to be read.
func (s *Sources) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTimer(s.wait(every))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(s.wait(every)) // from the start of this refresh, as a ticker would
			s.Refresh(ctx)
		}
	}
}

func (s *Sources) wait(every time.Duration) time.Duration {
	return jitter.Shorten(every, s.rand())
}

// FirstLoad reads templates and registry once, before the listeners open:
// from their sources, else from the snapshot. What it cannot load leaves
// the server not ready, every page a 503, until a refresh loads it.
func (s *Sources) FirstLoad(ctx context.Context) { s.Refresh(ctx) }

// Refresh reads templates and registry now, and publishes what changed
// (composer dev calls it on a save).
func (s *Sources) Refresh(ctx context.Context) {
	// One at a time: the dev mode's watcher refreshes beside the loop, and
	// a read that finished first must not publish after a later one.
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.refreshTemplates(ctx)
	s.refreshRegistry(ctx)
	if s.crossCheck {
		s.checkFragments()
	}
}

// CheckFragments turns on, after every refresh, the checks composer
// validate -registry makes across what is served: every fragment id of the
// templates is registered, a loader attribute agrees with its entry, a
// slot's timeout is above its entry's hedge delay. Their problems do not
// stop a publication (composer dev serves through them); they are kept
// until fixed, for /readyz, the admin listener's /status and Checks.
// Call it before FirstLoad.
func (s *Sources) CheckFragments() { s.crossCheck = true }

// checkFragments checks the set served now against the registry in use.
func (s *Sources) checkFragments() {
	set := s.srv.Templates()
	if set == nil || !s.reg.Loaded() {
		s.refused.check(nil)
		return
	}
	s.refused.check(CheckFragments(s.templates.Name(), SetSlots(set), s.reg.Raws(), s.registry.Name()))
}

// Checks are the problems of the served set that CheckFragments found, or
// none: what composer dev shows beside the refused changes.
func (s *Sources) Checks() []string {
	if c := s.refused.snapshotChecks(); c != nil {
		return c.Problems
	}
	return nil
}

func (s *Sources) refreshTemplates(ctx context.Context) {
	name := s.templates.Name()
	files, err := s.templates.Files(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var unreadable template.Errors // files the folder holds but that are not read (a FIFO): a refused change, not an outage
	if errors.As(err, &unreadable) {
		files, err = nil, nil
	}
	if err != nil {
		s.errors.WithLabelValues("templates").Inc()
		if !s.templatesDown {
			s.templatesDownAt = time.Now()
		}
		s.templatesDown = true
		if s.srv.Templates() != nil {
			s.log.Warn("templates source unavailable; serving the last good set", slog.String("source", name),
				slog.Int64("stale_for_ms", time.Since(s.templatesOK).Milliseconds()), slog.String("error", err.Error()))
			return
		}
		if sum, ok := s.templatesFromSnapshot("templates source unavailable at start-up; serving the snapshot", err); ok {
			s.templatesSum = sum
		}
		return
	}
	if s.templatesDown {
		s.log.Info("templates source available again", slog.String("source", name), slog.Int64("down_for_ms", time.Since(s.templatesDownAt).Milliseconds()))
		s.templatesDown = false
	}
	s.templatesOK = time.Now()
	sum := filesSum(files)
	if unreadable != nil {
		sum = sha256.Sum256([]byte(unreadable.Error()))
	}
	if sum == s.templatesSum {
		return // published already, or refused already
	}
	s.templatesSum = sum
	var set *template.Set
	if unreadable != nil {
		err = unreadable
	} else {
		set, err = template.BuildSet(files)
	}
	if err != nil {
		var problems []string
		var errs template.Errors
		errors.As(err, &errs)
		for _, e := range errs {
			s.log.Error("template error", slog.String("source", name), slog.String("file", e.File), slog.Int("line", e.Line), slog.String("error", e.Msg))
			problems = append(problems, e.Error())
		}
		s.refused.refuse("templates", 1, problems)
		if s.srv.Templates() != nil {
			s.log.Error("templates change refused; the last good set keeps serving", slog.String("source", name))
			return
		}
		s.templatesFromSnapshot("the templates do not load at start-up; serving the snapshot", err)
		return
	}
	s.srv.SetTemplates(set)
	s.refused.clear("templates")
	s.log.Info("templates published", slog.String("source", name), slog.Int("templates", len(set.Templates)), slog.Int("routes", len(set.Routes)))
	if err := s.writeSnapshot("templates.json", templateSnapshot{Source: name, Written: time.Now().UTC(), Files: files}); err != nil {
		s.log.Error("templates snapshot not written", slog.String("error", err.Error()))
	}
}

// templatesFromSnapshot publishes the snapshot's set when nothing is
// published yet and the source gave nothing that loads (cause), and says
// so with msg. Without a usable snapshot the server stays not ready, and
// every page answers 503.
func (s *Sources) templatesFromSnapshot(msg string, cause error) ([sha256.Size]byte, bool) {
	name := s.templates.Name()
	files, at, snapErr := s.readTemplateSnapshot()
	if snapErr != nil {
		s.log.Error("not ready: templates could not be loaded and there is no usable snapshot; pages answer 503 until a good set loads", slog.String("source", name),
			slog.String("error", cause.Error()), slog.String("snapshot", snapErr.Error()))
		return [sha256.Size]byte{}, false
	}
	set, buildErr := template.BuildSet(files)
	if buildErr != nil {
		s.log.Error("not ready: the templates snapshot does not compile; pages answer 503 until a good set loads", slog.String("error", buildErr.Error()))
		return [sha256.Size]byte{}, false
	}
	s.srv.SetTemplates(set)
	s.templatesOK = at // what is served is as old as the snapshot
	s.log.Warn(msg, slog.String("source", name), slog.Time("snapshot_written", at), slog.String("error", cause.Error()))
	return filesSum(files), true
}

func (s *Sources) refreshRegistry(ctx context.Context) {
	name := s.registry.Name()
	raws, err := s.registry.Raws(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var fileErr *registry.FileError
	switch {
	case errors.As(err, &fileErr):
		// The source answered with a file that is not a registry: a
		// refused change, not an outage.
		s.registrySum = [sha256.Size]byte{} // publish the next good read, whatever it holds
		if err.Error() == s.badRegistryFile {
			return // reported already
		}
		s.badRegistryFile = err.Error()
		s.refused.refuse("registry", 1, []string{err.Error()})
		if s.reg.Loaded() {
			s.log.Error("registry change refused: the file is not a registry; the last good entries stay in use", slog.String("source", name), slog.String("error", err.Error()))
			return
		}
	case err != nil:
		s.errors.WithLabelValues("registry").Inc()
		if !s.regDown {
			s.regDownAt = time.Now()
		}
		s.regDown = true
		if s.reg.Loaded() {
			s.log.Warn("registry source unavailable; the last good entries stay in use", slog.String("source", name),
				slog.Int64("stale_for_ms", time.Since(s.registryOK).Milliseconds()), slog.String("error", err.Error()))
			return
		}
	}
	if err != nil {
		s.registryFromSnapshot(err)
		return
	}
	s.badRegistryFile = ""
	if s.regDown {
		s.log.Info("registry source available again", slog.String("source", name), slog.Int64("down_for_ms", time.Since(s.regDownAt).Milliseconds()))
		s.regDown = false
	}
	s.registryOK = time.Now()
	sum := rawsSum(raws)
	if sum == s.registrySum && s.reg.Loaded() {
		return
	}
	s.registrySum = sum
	s.publishRegistry(name, raws)
	if err := s.writeSnapshot("registry.json", registrySnapshot{Source: name, Written: time.Now().UTC(), Entries: s.reg.Raws()}); err != nil {
		s.log.Error("registry snapshot not written", slog.String("error", err.Error()))
	}
}

// publishRegistry updates the registry with raws. An entry that does not
// parse is refused: counted and logged once (while it stays the same),
// with what stays in use for its id. "registry published" says both
// counts: entries in use, and refused.
func (s *Sources) publishRegistry(name string, raws []registry.Raw) {
	data := make(map[string][]byte, len(raws))
	for _, r := range raws {
		data[r.ID] = r.Data
	}
	errs := s.reg.Update(raws)
	bad := make(map[string][sha256.Size]byte, len(errs))
	var problems []string
	newly := 0
	for _, e := range errs {
		problems = append(problems, e.Error())
		bad[e.ID] = sha256.Sum256(data[e.ID])
		if s.badEntries[e.ID] == bad[e.ID] {
			continue // reported already
		}
		newly++
		msg := "registry entry refused; its last good value stays in use"
		if !e.Kept {
			msg = "registry entry refused; the fragment stays unregistered until it is fixed"
		}
		s.log.Error(msg, slog.String("source", name), slog.String("id", e.ID), slog.String("parameter", e.From), slog.String("at", e.Position()), slog.String("error", e.Err.Error()))
	}
	s.badEntries = bad
	if len(errs) > 0 {
		s.refused.refuse("registry", newly, problems)
	} else {
		s.refused.clear("registry")
	}
	s.log.Info("registry published", slog.String("source", name), slog.Int("entries", len(s.reg.IDs())), slog.Int("refused", len(errs)))
}

// registryFromSnapshot publishes the snapshot's entries when nothing is
// published yet and the source gave nothing (cause). Without a usable
// snapshot the server stays not ready, and every page answers 503.
func (s *Sources) registryFromSnapshot(cause error) {
	name := s.registry.Name()
	snap, snapErr := s.readRegistrySnapshot()
	if snapErr != nil {
		s.log.Error("not ready: the registry could not be loaded and there is no usable snapshot; pages answer 503 until it loads", slog.String("source", name),
			slog.String("error", cause.Error()), slog.String("snapshot", snapErr.Error()))
		return
	}
	s.reg.Update(snap.Entries)
	s.registryOK = snap.Written
	s.log.Warn("registry source unavailable at start-up; serving the snapshot", slog.String("source", name),
		slog.Time("snapshot_written", snap.Written), slog.Int("entries", len(snap.Entries)), slog.String("error", cause.Error()))
}

// Status is one source as the admin listener's /status shows it.
type Status struct {
	Source      string    `json:"source"`
	Loaded      bool      `json:"loaded"`
	LastRead    time.Time `json:"last_read,omitzero"`
	Unavailable bool      `json:"unavailable"`
	Refused     *Refusal  `json:"refused,omitempty"`
	Checks      *Refusal  `json:"checks,omitempty"` // served, with these problems (CheckFragments)
}

// Status is every source's state, with the details of refused changes:
// for the admin listener, never the public one.
func (s *Sources) Status() map[string]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	refused := s.refused.snapshot()
	return map[string]Status{
		"templates": {Source: s.templates.Name(), Loaded: s.srv.Templates() != nil, LastRead: s.templatesOK, Unavailable: s.templatesDown, Refused: refused["templates"], Checks: s.refused.snapshotChecks()},
		"registry":  {Source: s.registry.Name(), Loaded: s.reg.Loaded(), LastRead: s.registryOK, Unavailable: s.regDown, Refused: refused["registry"]},
	}
}

// Refusals remembers which sources refused a change, since when, and the
// problems, until a good copy is published; it counts every refused change
// in composer_source_refused_total.
type Refusals struct {
	mu     sync.Mutex
	by     map[string]*Refusal
	checks *Refusal // the served set's problems (CheckFragments): not refused, not counted
	count  *prometheus.CounterVec
}

// Refusal is a source's refused change: since the first refusal of a run
// of them, and the problems of the latest.
type Refusal struct {
	Since    time.Time `json:"since"`
	Problems []string  `json:"problems"`
}

// NewRefusals makes an empty Refusals, its counter registered in metrics
// (nil: none).
func NewRefusals(metrics prometheus.Registerer) *Refusals {
	r := &Refusals{by: map[string]*Refusal{}, count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "composer_source_refused_total",
		Help: "Changes refused: a template set that does not compile, a registry entry (or file) that does not parse. The last good copy keeps serving.",
	}, []string{"source"})}
	for _, source := range []string{"templates", "registry"} {
		r.count.WithLabelValues(source) // present at 0, for alerts on increase
	}
	if metrics != nil {
		metrics.MustRegister(r.count)
	}
	return r
}

// refuse records that source refused changes (how many are new) with
// problems.
func (r *Refusals) refuse(source string, changes int, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count.WithLabelValues(source).Add(float64(changes))
	if r.by[source] == nil {
		r.by[source] = &Refusal{Since: time.Now().UTC().Truncate(time.Second)}
	}
	r.by[source].Problems = problems
}

// clear records that source published a good copy.
func (r *Refusals) clear(source string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.by, source)
}

// check records the problems CheckFragments found in the set served now
// (none: clears them).
func (r *Refusals) check(problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(problems) == 0 {
		r.checks = nil
		return
	}
	if r.checks == nil {
		r.checks = &Refusal{Since: time.Now().UTC().Truncate(time.Second)}
	}
	r.checks.Problems = problems
}

func (r *Refusals) snapshotChecks() *Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		return nil
	}
	c := *r.checks
	return &c
}

func (r *Refusals) snapshot() map[string]*Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*Refusal, len(r.by))
	for k, v := range r.by {
		c := *v
		out[k] = &c
	}
	return out
}

// Notices are /readyz's lines: which source refused a change and since
// when, and no more (it is public: no file names, no endpoints).
func (r *Refusals) Notices() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for _, source := range []string{"templates", "registry"} {
		if f := r.by[source]; f != nil {
			lines = append(lines, fmt.Sprintf("%s: changes refused since %s; details on the admin listener", source, f.Since.Format(time.RFC3339)))
		}
	}
	if c := r.checks; c != nil {
		lines = append(lines, fmt.Sprintf("templates: served with problems composer validate reports since %s; details on the admin listener", c.Since.Format(time.RFC3339)))
	}
	return lines
}

// templateSnapshot and registrySnapshot are the snapshot files' content.
type templateSnapshot struct {
	Source  string            `json:"source"`
	Written time.Time         `json:"written"`
	Files   map[string][]byte `json:"files"`
}

type registrySnapshot struct {
	Source  string         `json:"source"`
	Written time.Time      `json:"written"`
	Entries []registry.Raw `json:"entries"`
}

// writeSnapshot writes v as name in the snapshot folder, atomically: a
// reader (the next start) sees the old file or the new, never half.
func (s *Sources) writeSnapshot(name string, v any) error {
	if s.snapshots == "" {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.snapshots, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.snapshots, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(s.snapshots, name))
}

func (s *Sources) readSnapshot(name string, v any) error {
	if s.snapshots == "" {
		return errors.New("COMPOSER_SNAPSHOT_DIR is not set")
	}
	data, err := os.ReadFile(filepath.Join(s.snapshots, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(s.snapshots, name), err)
	}
	return nil
}

func (s *Sources) readTemplateSnapshot() (map[string][]byte, time.Time, error) {
	var snap templateSnapshot
	if err := s.readSnapshot("templates.json", &snap); err != nil {
		return nil, time.Time{}, err
	}
	return snap.Files, snap.Written, nil
}

func (s *Sources) readRegistrySnapshot() (*registrySnapshot, error) {
	var snap registrySnapshot
	if err := s.readSnapshot("registry.json", &snap); err != nil {
		return nil, err
	}
	return &snap, nil
}

func filesSum(files map[string][]byte) [sha256.Size]byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func rawsSum(raws []registry.Raw) [sha256.Size]byte {
	files := make(map[string][]byte, len(raws))
	for _, r := range raws {
		files[r.ID+"\x00"+r.From] = r.Data
	}
	return filesSum(files)
}

// Problems are the problems of the changes refused now, the templates'
// first: what composer dev shows in the page's bar.
func (s *Sources) Problems() []string {
	refused := s.refused.snapshot()
	var problems []string
	for _, source := range []string{"templates", "registry"} {
		if r := refused[source]; r != nil {
			problems = append(problems, r.Problems...)
		}
	}
	return problems
}
