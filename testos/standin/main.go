// Command standin stands in for a service's container image in the
// whole-appliance VM test, where no registry is reachable. It listens where
// the real service would (STANDIN_LISTEN, comma-separated addresses) and
// answers every HTTP request with 200, which is what kiln's HTTP health
// checks ask of the real images, and /metrics in Prometheus's text format. It also resolves and dials, by name, the
// services the real one talks to (STANDIN_DIAL, comma-separated host:port)
// and reports what it found at /standin/deps, so the test can check that
// containers reach each other by name.
//
// It does not reproduce what the real image does with its configuration,
// data directory or secrets: it proves the unit, the network, the ports, the
// names and the health checks, not the service itself.
package main

import (
	"context"
	"encoding/json"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// dep is what a dial by name found.
type dep struct {
	Addresses []string `json:"addresses,omitempty"`
	Resolve   string   `json:"resolve_error,omitempty"`
	Connected bool     `json:"connected"`
	Connect   string   `json:"connect_error,omitempty"`
	Checked   string   `json:"checked"`
}

func main() {
	name := os.Getenv("STANDIN_NAME")
	log.SetFlags(0)
	log.SetPrefix("standin " + name + ": ")
	log.Printf("args %q (ignored)", os.Args[1:])

	var mu sync.Mutex
	deps := map[string]dep{}
	targets := split(os.Getenv("STANDIN_DIAL"))
	go func() {
		for {
			for _, t := range targets {
				d := probe(t)
				mu.Lock()
				deps[t] = d
				mu.Unlock()
			}
			time.Sleep(5 * time.Second)
		}
	}()

	mux := newMux(name, func() map[string]dep {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(deps)
	})
	listen := split(os.Getenv("STANDIN_LISTEN"))
	if len(listen) == 0 {
		log.Fatal("STANDIN_LISTEN is empty")
	}
	errc := make(chan error, len(listen))
	for _, addr := range listen {
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.ListenAndServe() }()
		log.Printf("listening on %s", addr)
	}
	log.Fatal(<-errc)
}

// newMux answers like the real service's health and metrics endpoints, and
// reports what the dials by name found (deps) at /standin/deps.
func newMux(name string, deps func() map[string]dep) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/standin/deps", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(deps())
	})
	// Prometheus scrapes the real services at /metrics: answer in its text
	// format, with the Content-Type Prometheus 3 requires, so the scrape
	// counts as up rather than failing to parse.
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte("# HELP standin_up 1 while the stand-in serves.\n# TYPE standin_up gauge\nstandin_up 1\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok " + name + "\n"))
	})
	return mux
}

func probe(target string) dep {
	d := dep{Checked: time.Now().UTC().Format(time.RFC3339)}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		d.Resolve = err.Error()
		return d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		d.Resolve = err.Error()
		return d
	}
	d.Addresses = addrs
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addrs[0], port), 5*time.Second)
	if err != nil {
		d.Connect = err.Error()
		return d
	}
	c.Close()
	d.Connected = true
	return d
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
