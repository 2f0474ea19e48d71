package spec

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestReadmeListsEveryKind keeps the README's list of service kinds equal
// to the kind table, the one place kinds are declared.
func TestReadmeListsEveryKind(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The list is the parenthesis after "a Quadlet container with a `kind`".
	m := regexp.MustCompile("(?s)with a `kind`\\s*\\(([^)]*)\\)").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md no longer lists the kinds after \"with a `kind`\"")
	}
	var listed []string
	for _, q := range regexp.MustCompile("`([^`]+)`").FindAllSubmatch(m[1], -1) {
		listed = append(listed, string(q[1]))
	}
	sort.Strings(listed)
	if got, want := strings.Join(listed, ", "), strings.Join(Kinds(), ", "); got != want {
		t.Errorf("README.md lists kinds %s; the kind table has %s", got, want)
	}
}

// TestKindTable: names are unique and every kind has a role.
func TestKindTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range kinds {
		if seen[k.Name] {
			t.Errorf("kind %q twice in the table", k.Name)
		}
		seen[k.Name] = true
		if k.Role == "" {
			t.Errorf("kind %q has no role", k.Name)
		}
	}
}
