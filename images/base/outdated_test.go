package base

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	built, stream, err := ParseVersion("42.20251012.3.0")
	if err != nil || !built.Equal(time.Date(2025, 10, 12, 0, 0, 0, 0, time.UTC)) || stream != "stable" {
		t.Errorf("got %v %q %v", built, stream, err)
	}
	if _, s, _ := ParseVersion("43.20251101.2.1"); s != "testing" {
		t.Errorf("stream 2 = %q, want testing", s)
	}
	for _, bad := range []string{"42", "42.2025.3.0", "latest", "42.20251301.3.0"} {
		if _, _, err := ParseVersion(bad); !errors.Is(err, ErrMetadata) {
			t.Errorf("ParseVersion(%q) = %v, want ErrMetadata", bad, err)
		}
	}
}

// TestOutdated compares releases with the fixture stream, whose metal
// release is 42.20251012.3.0.
func TestOutdated(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/streams/", http.StripPrefix("/streams/", http.FileServer(http.Dir("testdata"))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL}
	ctx := context.Background()

	f, err := c.Outdated(ctx, "", "42.20250901.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if f.Stream != "stable" || f.Latest != "42.20251012.3.0" || !f.Newer {
		t.Errorf("got %+v", f)
	}
	day := 24 * time.Hour
	if got := f.Age(time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)); got != 30*day {
		t.Errorf("age %v, want 30 days", got)
	}
	if f.RebuildDue(time.Date(2025, 10, 15, 0, 0, 0, 0, time.UTC), 7*day) {
		t.Error("rebuild due 3 days after the new release, grace 7 days")
	}
	if !f.RebuildDue(time.Date(2025, 10, 20, 0, 0, 0, 0, time.UTC), 7*day) {
		t.Error("rebuild not due 8 days after the new release")
	}
	if f, err := c.Outdated(ctx, "stable", "42.20251012.3.0"); err != nil || f.Newer || f.RebuildDue(time.Now(), 0) {
		t.Errorf("current release: %+v, %v", f, err)
	}
	if _, err := c.Outdated(ctx, "", "42.20251012.91.0"); !errors.Is(err, ErrMetadata) {
		t.Errorf("development stream without --stream: %v", err)
	}
}
