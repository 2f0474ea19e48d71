package main

import (
	"bytes"
	"strings"
	"testing"
)

// stream is a `go test -json` run: one package passes with two tests
// skipped for the same missing judge and one for another reason, one test
// of a second package fails, and a third package has no tests.
const stream = `{"Action":"start","Package":"kiln/a"}
{"Action":"run","Package":"kiln/a","Test":"TestNft"}
{"Action":"output","Package":"kiln/a","Test":"TestNft","Output":"=== RUN   TestNft\n"}
{"Action":"output","Package":"kiln/a","Test":"TestNft","Output":"    nft_test.go:12: judge \"nft\" not found: install the packages in .ci/apt-packages\n"}
{"Action":"output","Package":"kiln/a","Test":"TestNft","Output":"--- SKIP: TestNft (0.00s)\n"}
{"Action":"skip","Package":"kiln/a","Test":"TestNft","Elapsed":0}
{"Action":"run","Package":"kiln/a","Test":"TestReach/v4"}
{"Action":"output","Package":"kiln/a","Test":"TestReach/v4","Output":"    reach_test.go:40: judge \"nft\" not found: install the packages in .ci/apt-packages\n"}
{"Action":"skip","Package":"kiln/a","Test":"TestReach/v4","Elapsed":0}
{"Action":"output","Package":"kiln/a","Test":"TestRoot","Output":"    root_test.go:9: network namespaces need root\n"}
{"Action":"skip","Package":"kiln/a","Test":"TestRoot","Elapsed":0}
{"Action":"output","Package":"kiln/a","Test":"TestOK","Output":"    ok_test.go:3: a log line of a passing test\n"}
{"Action":"pass","Package":"kiln/a","Test":"TestOK","Elapsed":0}
{"Action":"output","Package":"kiln/a","Output":"PASS\n"}
{"Action":"output","Package":"kiln/a","Output":"ok  \tkiln/a\t0.1s\n"}
{"Action":"pass","Package":"kiln/a","Elapsed":0.1}
{"Action":"output","Package":"kiln/b","Test":"TestBad","Output":"    bad_test.go:7: got 1, want 2\n"}
{"Action":"output","Package":"kiln/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"kiln/b","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"kiln/b","Output":"FAIL\tkiln/b\t0.2s\n"}
{"Action":"fail","Package":"kiln/b","Elapsed":0.2}
{"Action":"output","Package":"kiln/c","Output":"?   \tkiln/c\t[no test files]\n"}
{"Action":"skip","Package":"kiln/c","Elapsed":0}
`

func TestReport(t *testing.T) {
	var out bytes.Buffer
	failed, err := report(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failing test was not reported as a failure")
	}
	got := out.String()
	for _, want := range []string{
		"ok  \tkiln/a\t0.1s\n",
		"    bad_test.go:7: got 1, want 2\n--- FAIL: TestBad (0.00s)\nFAIL\tkiln/b\t0.2s\n",
		"?   \tkiln/c\t[no test files]\n",
		"SKIPPED 3 tests:\n" +
			"  judge \"nft\" not found: install the packages in .ci/apt-packages\n" +
			"    2: kiln/a.TestNft, kiln/a.TestReach/v4\n" +
			"  network namespaces need root\n" +
			"    1: kiln/a.TestRoot\n",
		".ci/apt-packages",
		`README.md, section "Judges"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "a log line of a passing test") || strings.Contains(got, "PASS\n") {
		t.Errorf("a passing test's log was printed:\n%s", got)
	}
}

func TestReportAllPass(t *testing.T) {
	var out bytes.Buffer
	failed, err := report(strings.NewReader(`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`), &out)
	if err != nil || failed || strings.Contains(out.String(), "SKIPPED") {
		t.Errorf("failed=%v err=%v\n%s", failed, err, out.String())
	}
}
