// Crawler is a fan-out/fan-in program shaped as a tree of nurseries — the
// "meticulous tree of hierarchical calls to asyncio.gather()" that the asyncio
// advice ends on, with every level bounded and every level cancellable:
//
//	run: nursery.Run ─┬─ progress task (a progress line on stderr)
//	                  └─ crawl: nursery.Run, 2 sites at once, a time budget per site (Timeout)
//	                     └─ site: nursery.New, 3 pages at once, a deadline per page (FailAfter)
//	                        └─ page: nursery.Map over its assets, 2 at once, a deadline per asset (FailAfter)
//
// Each level waits for everything it started before it returns, so when a
// level's deadline fires, or Ctrl-C cancels the root context
// (signal.NotifyContext), every task below it stops, the program prints what
// it fetched so far and exits with status 130. Nothing is left running.
//
// The web is fake and in memory (see web.go), so the program needs no
// network; -unit scales its latencies and every deadline.
//
//	go run ./examples/crawler
//	go run ./examples/crawler -unit=1s   # slow enough to press Ctrl-C
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	context.AfterFunc(ctx, stop) // after the first Ctrl-C, a second one kills the program
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err == nil:
	case interrupted && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "crawler: interrupted")
		os.Exit(130) // 128+SIGINT: what a shell reports for a program stopped by Ctrl-C
	default:
		fmt.Fprintln(os.Stderr, "crawler:", err)
		os.Exit(1)
	}
}

// seeds are the sites to crawl, in the order they are reported.
var seeds = []string{
	"https://calendar.example/",
	"https://go.example/",
	"https://slow.example/",
}

// config holds the limits and deadlines of each level.
type config struct {
	sites, pages, assets int           // how many run at once at each level
	maxDepth             int           // how many links deep to follow
	unit                 time.Duration // the fake web's latency unit
	progress             time.Duration // how often to update the progress line
}

// Deadlines, in latency units of the fake web.
func (c config) siteBudget() time.Duration   { return 100 * c.unit }
func (c config) pageTimeout() time.Duration  { return 20 * c.unit }
func (c config) assetTimeout() time.Duration { return 10 * c.unit }

// run crawls the seeds, writes the progress line to stderr and the report to
// stdout. It returns the sites that ran out of time, or the cancellation of
// ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("crawler", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var cfg config
	flags.IntVar(&cfg.sites, "sites", 2, "sites crawled at once")
	flags.IntVar(&cfg.pages, "pages", 3, "pages fetched at once per site")
	flags.IntVar(&cfg.assets, "assets", 2, "assets fetched at once per page")
	flags.IntVar(&cfg.maxDepth, "max-depth", 20, "links followed from a site's home page")
	flags.DurationVar(&cfg.unit, "unit", 10*time.Millisecond, "latency unit of the fake web; deadlines are multiples of it")
	flags.DurationVar(&cfg.progress, "progress", 100*time.Millisecond, "progress line update interval")
	if err := flags.Parse(args); err != nil {
		return err
	}

	var st stats
	var sites []*site
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			st.show(ctx, stderr, cfg.progress)
			return nil
		}, nursery.Name("progress"))

		var err error
		sites, err = crawl(n.Context(), cfg, &st)
		n.Cancel(nil) // the crawl is over: stop the progress line (cancelling is not failing)
		return err
	})
	fmt.Fprintf(stderr, "\r%s\n", st.line())
	for _, s := range sites {
		s.report(stdout)
	}
	return err
}

// crawl is the top level: one task per site, at most cfg.sites at once, each
// with a time budget. CollectErrors: a site that runs out of time does not
// stop the others.
//
// WithLimit would not bound the sites here: it bounds the tasks running at
// once, and a site's task spends its life waiting for its own nursery,
// which gives its slot back (so that nothing nested can deadlock on it).
// To bound the sites in progress, a site holds a place in a channel, a
// wait the nursery cannot see, for the whole of its crawl.
func crawl(ctx context.Context, cfg config, st *stats) ([]*site, error) {
	sites := make([]*site, len(seeds))
	inProgress := make(chan struct{}, cfg.sites)
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		for i, seed := range seeds {
			s := newSite(seed, cfg, st)
			sites[i] = s
			// Block while cfg.sites sites are being crawled (backpressure).
			select {
			case inProgress <- struct{}{}:
			case <-n.Context().Done():
				return nil
			}
			n.Go(func(ctx context.Context) error {
				defer func() { <-inProgress }()
				return s.crawl(ctx)
			}, nursery.Name(s.host), nursery.Timeout(cfg.siteBudget()))
		}
		return nil
	}, nursery.WithName("crawl"), nursery.CollectErrors())
	return sites, err
}

// A site is the middle level: the crawl of one host.
type site struct {
	root, host string
	cfg        config
	stats      *stats

	mu    sync.Mutex
	seen  map[string]bool
	pages []pageResult
}

type pageResult struct {
	url         string
	depth       int
	bytes       int
	err         error
	interrupted bool // err is the cancellation of the site (its budget, or Ctrl-C)
}

func newSite(root string, cfg config, st *stats) *site {
	u, err := url.Parse(root)
	if err != nil {
		panic(err)
	}
	return &site{root: root, host: u.Host, cfg: cfg, stats: st, seen: map[string]bool{}}
}

// crawl fetches the site's pages, at most cfg.pages at once, following links
// on the same host. It returns when every page it started has returned.
func (s *site) crawl(ctx context.Context) error {
	n := nursery.New(ctx, nursery.WithLimit(s.cfg.pages))
	s.visit(n, s.root, 0)
	return n.Wait()
}

// visit starts a task in n that fetches the page at rawURL and visits the
// pages it links to. It takes the nursery, not a context, because its job is
// to spawn siblings: the tree of pages grows while Wait is already waiting.
func (s *site) visit(n *nursery.Nursery, rawURL string, depth int) {
	if depth > s.cfg.maxDepth || !s.claim(rawURL) {
		return
	}
	n.Go(func(ctx context.Context) error {
		s.stats.inFlight.Add(1)
		defer s.stats.inFlight.Add(-1)
		var page resource
		var size int
		err := nursery.FailAfter(ctx, s.cfg.pageTimeout(), func(ctx context.Context) (err error) {
			page, size, err = fetchPage(ctx, rawURL, s.cfg)
			return err
		})
		interrupted := err != nil && ctx.Err() != nil
		s.record(pageResult{url: rawURL, depth: depth, bytes: size, err: err, interrupted: interrupted})
		if interrupted {
			return err // let the nursery see that this task was cut short
		}
		if err != nil {
			return nil // a broken page is part of the report, not a reason to stop the site
		}
		for _, link := range page.links {
			if u := resolve(rawURL, link); strings.HasPrefix(u, s.root) {
				s.visit(n, u, depth+1)
			}
		}
		return nil
	}, nursery.Name(strings.TrimPrefix(rawURL, s.root)))
}

// claim reports whether rawURL is new to the site, and marks it seen.
func (s *site) claim(rawURL string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[rawURL] {
		return false
	}
	s.seen[rawURL] = true
	return true
}

func (s *site) record(r pageResult) {
	s.mu.Lock()
	s.pages = append(s.pages, r)
	s.mu.Unlock()
	switch {
	case r.err == nil:
		s.stats.ok.Add(1)
	case r.interrupted:
		s.stats.interrupted.Add(1)
	default:
		s.stats.failed.Add(1)
	}
}

// report prints the site's pages by depth then URL, failures in full.
func (s *site) report(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.SortFunc(s.pages, func(a, b pageResult) int {
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		return strings.Compare(a.url, b.url)
	})
	ok, bytes := 0, 0
	for _, p := range s.pages {
		if p.err == nil {
			ok++
			bytes += p.bytes
		}
	}
	fmt.Fprintf(w, "%s: %d pages, %d ok (%d bytes)\n", s.host, len(s.pages), ok, bytes)
	for _, p := range s.pages {
		switch {
		case p.interrupted:
			fmt.Fprintf(w, "  %s: interrupted\n", p.url)
		case p.err != nil:
			fmt.Fprintf(w, "  %s: %v\n", p.url, p.err)
		}
	}
}

// fetchPage is the bottom level: it fetches a page, then its assets, at most
// cfg.assets at once, each with its own deadline. It returns the page and its
// total size. Map returns the sizes in the order of page.assets; the first
// asset that fails cancels the others, and the error names its index.
func fetchPage(ctx context.Context, rawURL string, cfg config) (resource, int, error) {
	page, err := fetch(ctx, rawURL, cfg.unit)
	if err != nil {
		return page, 0, err
	}
	sizes, err := nursery.Map(ctx, page.assets, func(ctx context.Context, asset string) (int, error) {
		asset = resolve(rawURL, asset)
		var a resource
		err := nursery.FailAfter(ctx, cfg.assetTimeout(), func(ctx context.Context) (err error) {
			a, err = fetch(ctx, asset, cfg.unit)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("%s: %w", asset, err)
		}
		return a.size, nil
	}, nursery.WithLimit(cfg.assets))
	if err != nil {
		return page, 0, err
	}
	total := page.size
	for _, n := range sizes {
		total += n
	}
	return page, total, nil
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		panic(err)
	}
	return b.ResolveReference(r).String()
}

// stats are the counters behind the progress line.
type stats struct {
	ok, failed, interrupted, inFlight atomic.Int64
}

func (st *stats) line() string {
	return fmt.Sprintf("%d pages ok, %d failed, %d interrupted, %d in flight",
		st.ok.Load(), st.failed.Load(), st.interrupted.Load(), st.inFlight.Load())
}

// show rewrites the progress line every interval until ctx ends.
func (st *stats) show(ctx context.Context, w io.Writer, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		fmt.Fprintf(w, "\r%s", st.line())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
