package nginx

// clipperEdge is Clipper's edge for the given names, with the upstreams and
// certificate paths the builder gives it.
func clipperEdge(names ...string) Config {
	c := DefaultConfig(names...)
	c.Backend, c.Frontend = "127.0.0.1:8080", "127.0.0.1:8081"
	c.CertPath, c.KeyPath, c.ChainPath = "/var/lib/kiln/tls/fullchain.pem", "/var/lib/kiln/tls/privkey.pem", "/var/lib/kiln/tls/chain.pem"
	c.ACMEWebroot = "/var/lib/kiln/acme-webroot"
	return c
}
