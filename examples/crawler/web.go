package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// A resource is a page or an asset of the fake web.
type resource struct {
	latency int      // how long fetching it takes, in latency units
	hang    bool     // it never answers: only a deadline or Ctrl-C ends the fetch
	status  string   // if set, fetching it fails with this HTTP status
	size    int      // its size in bytes
	links   []string // pages it links to, relative to its URL
	assets  []string // images and scripts it needs, relative to its URL
}

// web is the fake web, by URL. calendar.example is generated (see lookup).
var web = map[string]resource{
	"https://calendar.example/": {latency: 2, size: 500, links: []string{"/day/1"}},

	"https://go.example/":        {latency: 2, size: 1000, links: []string{"/doc", "/blog", "/play", "https://slow.example/"}, assets: []string{"/logo.png", "/site.js"}},
	"https://go.example/doc":     {latency: 3, size: 5000, links: []string{"/doc/faq", "/missing"}, assets: []string{"/site.js"}},
	"https://go.example/doc/faq": {latency: 1, size: 2000, links: []string{"/"}},
	"https://go.example/blog":    {latency: 2, size: 3000, links: []string{"/blog/1", "/blog/2"}, assets: []string{"/logo.png"}},
	"https://go.example/blog/1":  {latency: 1, size: 1500, assets: []string{"/img/gopher.png"}},
	"https://go.example/blog/2":  {latency: 1, size: 1500, assets: []string{"/logo.png", "/img/broken.png"}},
	"https://go.example/play":    {latency: 1, size: 800, assets: []string{"/play.js"}},

	"https://go.example/logo.png":       {latency: 1, size: 200},
	"https://go.example/site.js":        {latency: 1, size: 300},
	"https://go.example/img/gopher.png": {latency: 2, size: 800},
	"https://go.example/img/broken.png": {latency: 1, status: "500 Internal Server Error"},
	"https://go.example/play.js":        {hang: true},

	"https://slow.example/":        {latency: 2, size: 800, links: []string{"/reports", "/about"}},
	"https://slow.example/reports": {hang: true},
	"https://slow.example/about":   {latency: 1, size: 400},
}

// lookup finds rawURL on the fake web. calendar.example is a crawler trap: an
// endless chain of pages, /day/1 links to /day/2, and so on.
func lookup(rawURL string) (resource, bool) {
	if r, ok := web[rawURL]; ok {
		return r, true
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return resource{}, false
	}
	var day int
	if u.Host == "calendar.example" {
		if _, err := fmt.Sscanf(u.Path, "/day/%d", &day); err == nil && day > 0 {
			return resource{latency: 3, size: 500, links: []string{fmt.Sprintf("/day/%d", day+1)}}, true
		}
	}
	return resource{}, false
}

// fetch fetches rawURL from the fake web, taking its latency (in units of
// unit), or until ctx ends.
func fetch(ctx context.Context, rawURL string, unit time.Duration) (resource, error) {
	r, ok := lookup(rawURL)
	if !ok {
		r = resource{latency: 1, status: "404 Not Found"}
	}
	if r.hang {
		<-ctx.Done()
		return resource{}, context.Cause(ctx)
	}
	t := time.NewTimer(time.Duration(r.latency) * unit)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return resource{}, context.Cause(ctx)
	}
	if r.status != "" {
		return resource{}, errors.New(r.status)
	}
	return r, nil
}
