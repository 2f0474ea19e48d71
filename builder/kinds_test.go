package builder

import (
	"testing"

	"github.com/kiln-dev/kiln/builder/spec"
)

// TestEveryKindHasRecipe: a kind of the spec's table without a recipe
// would render as a bare container with no configuration and no health
// check; the two tables must name the same kinds.
func TestEveryKindHasRecipe(t *testing.T) {
	known := map[string]bool{}
	for _, k := range spec.Kinds() {
		known[k] = true
		if _, err := recipeFor(k); err != nil {
			t.Errorf("%v: add it to recipes in builder/recipes.go", err)
		}
	}
	for k := range recipes {
		if !known[k] {
			t.Errorf("recipe for %q, which the spec's kind table (builder/spec/kinds.go) lacks", k)
		}
	}
}
