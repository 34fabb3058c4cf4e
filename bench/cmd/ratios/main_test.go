package main

import (
	"strings"
	"testing"
)

const input = `goos: linux
BenchmarkGuardHS256Success-2   	  100	      3000 ns/op	     900 B/op	      12 allocs/op
BenchmarkGuardHS256Success-2   	  100	      1000 ns/op	     700 B/op	      10 allocs/op
BenchmarkGuardHS256Success-2   	  100	      2000 ns/op	     800 B/op	      11 allocs/op
BenchmarkFloorHS256-2          	 1000	       500 ns/op	       0 B/op	       0 allocs/op
BenchmarkAPIKey/keys=1/guard/hit-2 	 1000	       500 ns/op	       0 B/op	       0 allocs/op
BenchmarkLogLine says hello
PASS
`

func TestParseMedians(t *testing.T) {
	ss, err := parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 {
		t.Fatalf("got %d rows, want 3", len(ss))
	}
	g := ss[0]
	if g.name != "GuardHS256Success" || g.medNS != 2000 || g.medB != 800 || g.medAll != 11 {
		t.Errorf("got %+v, want GuardHS256Success 2000 ns, 800 B, 11 allocs", g)
	}
	if ss[2].name != "APIKey/keys=1/guard/hit" {
		t.Errorf("got name %q, want APIKey/keys=1/guard/hit", ss[2].name)
	}
}

func TestMedianEven(t *testing.T) {
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("got %v, want 2.5", got)
	}
}

func TestRunTargets(t *testing.T) {
	var b strings.Builder
	if err := run(strings.NewReader(input), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"PASS  HS256 within 4x of the floor",
		"FAIL  HS256 ≤10 allocs/op",
		"n/a   HS256 ≥3x faster than the fastest peer",
		"n/a   HS256 ≤2.5x the floor, net",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
