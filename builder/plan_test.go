package builder

import "testing"

// TestRepeated: newPlan refuses a plan in which two parts write the same
// file or unit, naming the first path it finds twice in the sorted list.
func TestRepeated(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
		ok   bool
	}{
		{[]string{"/a", "/b", "/c"}, "", false},
		{[]string{"/a", "/b", "/b", "/c", "/c"}, "/b", true},
		{nil, "", false},
	} {
		got, ok := repeated(tc.keys, func(s string) string { return s })
		if got != tc.want || ok != tc.ok {
			t.Errorf("repeated(%q) = %q, %v; want %q, %v", tc.keys, got, ok, tc.want, tc.ok)
		}
	}
}
