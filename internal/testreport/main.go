// Command testreport reads `go test -json` on standard input and prints
// what `go test` prints (a line per package, the output of failing tests),
// then every skipped test grouped by the reason it gave. `make test` uses
// it so that a judge missing on this machine is visible instead of
// silently not judging. It exits 1 when a test or a build failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output and build-fail events
}

// hint says where missing judges come from.
const hint = `Judges missing on this machine are skipped here and fail under CI=true.
Install them with the Debian packages in .ci/apt-packages (sudo bash .ci/run
installs them all) and build the ones from Go modules with make tools;
README.md, section "Judges", says which package gives each.`

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// testKey names one test of one package.
type testKey struct{ pkg, test string }

// posRE is the file:line prefix t.Log and t.Skip put before a message.
var posRE = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// report copies the essentials of a `go test -json` stream from r to w and
// reports whether anything failed.
func report(r io.Reader, w io.Writer) (failed bool, err error) {
	output := map[testKey][]string{}
	skipped := map[string][]string{} // reason → tests
	var reasons []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			// Not an event (go vet or the go command itself): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		k := testKey{ev.Package, ev.Test}
		switch ev.Action {
		case "build-output":
			fmt.Fprint(w, ev.Output)
		case "build-fail":
			failed = true
		case "output":
			output[k] = append(output[k], ev.Output)
		case "fail":
			failed = true
			// A test's output holds its logs and "--- FAIL"; a package's
			// holds "FAIL pkg 1.2s" and any panic.
			fmt.Fprint(w, strings.Join(output[k], ""))
			delete(output, k)
		case "skip":
			if ev.Test == "" {
				fmt.Fprint(w, strings.Join(output[k], ""))
				delete(output, k)
				break
			}
			reason := skipReason(output[k])
			if _, ok := skipped[reason]; !ok {
				reasons = append(reasons, reason)
			}
			skipped[reason] = append(skipped[reason], ev.Package+"."+ev.Test)
			delete(output, k)
		case "pass":
			if ev.Test == "" {
				// Of a passing package go test shows only its "ok" line,
				// not the "PASS" and warnings before it.
				for _, l := range output[k] {
					if strings.HasPrefix(l, "ok ") {
						fmt.Fprint(w, l)
					}
				}
			}
			delete(output, k)
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	if len(reasons) == 0 {
		return failed, nil
	}
	n := 0
	for _, ts := range skipped {
		n += len(ts)
	}
	slices.SortStableFunc(reasons, func(a, b string) int { return len(skipped[b]) - len(skipped[a]) })
	noun := "tests"
	if n == 1 {
		noun = "test"
	}
	fmt.Fprintf(w, "\nSKIPPED %d %s:\n", n, noun)
	for _, reason := range reasons {
		ts := skipped[reason]
		fmt.Fprintf(w, "  %s\n", reason)
		const show = 4
		list := ts
		if len(list) > show {
			list = list[:show]
		}
		more := ""
		if len(ts) > show {
			more = fmt.Sprintf(" and %d more", len(ts)-show)
		}
		fmt.Fprintf(w, "    %d: %s%s\n", len(ts), strings.Join(list, ", "), more)
	}
	fmt.Fprintf(w, "\n%s\n", hint)
	return failed, nil
}

// skipReason is the message a skipped test gave, without the file:line
// prefix and the RUN/SKIP lines around it.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, posRE.ReplaceAllString(t, ""))
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " ")
}
