// Command ratios reads `go test -bench -benchmem` output (any -count), takes
// the median of each metric per benchmark, and prints a table with every
// row's ns/op divided by guard's HS256 success row, followed by the targets
// of issues 5 and 20, each with PASS or FAIL and the figures behind it.
//
// Usage:
//
//	go run ./cmd/ratios results.txt
//	go test -run '^$' -bench . -benchmem -count 6 | go run ./cmd/ratios
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// reference is the row every ratio is taken against.
const reference = "GuardHS256Success"

// sample holds one benchmark's measurements across counts.
type sample struct {
	name                string
	ns, bytes, allocs   []float64
	medNS, medB, medAll float64
}

// procSuffix is the -GOMAXPROCS suffix go test appends to names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines and returns the samples in first-seen order.
func parse(r io.Reader) ([]*sample, error) {
	var order []*sample
	byName := map[string]*sample{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // not a result line (a log line that starts with "Benchmark")
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		s := byName[name]
		if s == nil {
			s = &sample{name: name}
			byName[name] = s
			order = append(order, s)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, s := range order {
		s.medNS, s.medB, s.medAll = median(s.ns), median(s.bytes), median(s.allocs)
	}
	return order, nil
}

// median returns the median of xs, or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// report writes the table and the targets.
type report struct {
	w      io.Writer
	rows   map[string]*sample
	failed int
	missed int
}

func (r *report) get(name string) *sample { return r.rows[name] }

// check prints one target line with its verdict.
func (r *report) check(target string, pass bool, detail string) {
	verdict := "PASS"
	if !pass {
		verdict = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.w, "  %-4s  %-66s %s\n", verdict, target, detail)
}

func (r *report) missing(target string, names ...string) {
	r.missed++
	fmt.Fprintf(r.w, "  n/a   %-66s missing rows: %s\n", target, strings.Join(names, ", "))
}

// need returns the named samples, or nil (after printing n/a) when any is missing.
func (r *report) need(target string, names ...string) []*sample {
	out := make([]*sample, 0, len(names))
	var gone []string
	for _, n := range names {
		s := r.get(n)
		if s == nil || s.medNS == 0 {
			gone = append(gone, n)
			continue
		}
		out = append(out, s)
	}
	if len(gone) > 0 {
		r.missing(target, gone...)
		return nil
	}
	return out
}

// spread is the slowest median ÷ the fastest.
func spread(ss []*sample) float64 {
	lo, hi := ss[0].medNS, ss[0].medNS
	for _, s := range ss[1:] {
		lo, hi = min(lo, s.medNS), max(hi, s.medNS)
	}
	return hi / lo
}

func run(in io.Reader, w io.Writer) error {
	samples, err := parse(in)
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	r := &report{w: w, rows: map[string]*sample{}}
	width := len("benchmark")
	for _, s := range samples {
		r.rows[s.name] = s
		width = max(width, len(s.name))
	}
	ref := r.get(reference)

	counts := len(samples[0].ns)
	fmt.Fprintf(w, "Medians of %d counts; ratio = row ns/op ÷ %s ns/op.\n\n", counts, reference)
	fmt.Fprintf(w, "%-*s  %12s  %10s  %9s  %9s\n", width, "benchmark", "ns/op", "B/op", "allocs/op", "×guard")
	for _, s := range samples {
		ratio := "-"
		if ref != nil && ref.medNS > 0 {
			ratio = fmt.Sprintf("%.2f", s.medNS/ref.medNS)
		}
		fmt.Fprintf(w, "%-*s  %12.0f  %10.0f  %9.0f  %9s\n", width, s.name, s.medNS, s.medB, s.medAll, ratio)
	}

	fmt.Fprintf(w, "\nTargets (issue 5):\n")

	// 1. HS256 at least 3x faster than the fastest peer.
	peers := []string{"PeerGolangJWTSuccess", "PeerAuth0Success", "PeerJWTAuthSuccess", "PeerEchoJWTSuccess"}
	if ss := r.need("HS256 ≥3x faster than the fastest peer", append([]string{reference}, peers...)...); ss != nil {
		fastest := ss[1]
		for _, p := range ss[2:] {
			if p.medNS < fastest.medNS {
				fastest = p
			}
		}
		x := fastest.medNS / ss[0].medNS
		r.check("HS256 ≥3x faster than the fastest peer", x >= 3,
			fmt.Sprintf("%.2fx (fastest peer %s %.0f ns vs %.0f ns)", x, fastest.name, fastest.medNS, ss[0].medNS))
	}
	// 2. Within 4x of the floor.
	if ss := r.need("HS256 within 4x of the floor", reference, "FloorHS256"); ss != nil {
		x := ss[0].medNS / ss[1].medNS
		r.check("HS256 within 4x of the floor", x <= 4,
			fmt.Sprintf("%.2fx (%.0f ns vs floor %.0f ns)", x, ss[0].medNS, ss[1].medNS))
	}
	// 3. At most 10 allocations per request.
	if ss := r.need("HS256 ≤10 allocs/op", reference); ss != nil {
		detail := fmt.Sprintf("%.0f allocs/op", ss[0].medAll)
		if base := r.get("Baseline/net_http"); base != nil {
			detail += fmt.Sprintf(" (%.0f of them the bare handler's recorder and request: net %.0f)",
				base.medAll, ss[0].medAll-base.medAll)
		}
		r.check("HS256 ≤10 allocs/op", ss[0].medAll <= 10, detail)
	}
	// 4. Bad signature no slower than success.
	for _, alg := range []string{"HS256", "ES256", "EdDSA", "RS256"} {
		t := alg + " bad signature ≤ success"
		if ss := r.need(t, "Guard"+alg+"BadSig", "Guard"+alg+"Success"); ss != nil {
			x := ss[0].medNS / ss[1].medNS
			r.check(t, x <= 1, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
		}
	}
	// 5. Asymmetric uncached within 1.15x of raw verification.
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t := alg + " uncached within 1.15x of raw verification"
		if ss := r.need(t, "Guard"+alg+"Success", "RawVerify/"+alg); ss != nil {
			x := ss[0].medNS / ss[1].medNS
			r.check(t, x <= 1.15, fmt.Sprintf("%.2fx (%.0f ns vs raw %.0f ns)", x, ss[0].medNS, ss[1].medNS))
		}
	}
	// 6. Cached asymmetric hit within 1.5x of HS256 (rows exist once guard has a cache).
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t := alg + " cached hit within 1.5x of HS256"
		if ss := r.need(t, "Guard"+alg+"Cached", reference); ss != nil {
			x := ss[0].medNS / ss[1].medNS
			r.check(t, x <= 1.5, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
		}
	}
	// 7. API keys: flat from 1 to 1 000 000 keys. Any in-heap store slows
	// down as it grows, because the collector marks its million entries
	// while the requests allocate (with GOGC=off both stores are flat); so
	// guard's growth (slowest size ÷ fastest) is judged against the
	// hand-written map's growth in the same run: at most 1.25x of it.
	for _, kind := range []string{"hit", "miss"} {
		t := "RequireAPIKey " + kind + " flat 1→1M keys (growth ≤1.25x the map's)"
		names := []string{"APIKey/keys=1/guard/" + kind, "APIKey/keys=10000/guard/" + kind, "APIKey/keys=1000000/guard/" + kind,
			"APIKey/keys=1/hand/" + kind, "APIKey/keys=10000/hand/" + kind, "APIKey/keys=1000000/hand/" + kind}
		if ss := r.need(t, names...); ss != nil {
			g, h := spread(ss[:3]), spread(ss[3:])
			r.check(t, g/h <= 1.25, fmt.Sprintf("guard %.2fx (1: %.0f, 10k: %.0f, 1M: %.0f ns) vs map %.2fx",
				g, ss[0].medNS, ss[1].medNS, ss[2].medNS, h))
		}
	}
	for _, n := range []string{"1", "10000", "1000000"} {
		for _, kind := range []string{"hit", "miss"} {
			t := "RequireAPIKey " + kind + " within 1.5x of the map, " + n + " keys"
			if ss := r.need(t, "APIKey/keys="+n+"/guard/"+kind, "APIKey/keys="+n+"/hand/"+kind); ss != nil {
				x := ss[0].medNS / ss[1].medNS
				r.check(t, x <= 1.5, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
			}
		}
	}
	// 8. CORS within 1.05x of rs/cors.
	for _, kind := range []string{"actual", "preflight", "no_origin"} {
		t := "CORS " + kind + " within 1.05x of rs/cors"
		if ss := r.need(t, "GuardCORS/"+kind, "RSCORS/"+kind); ss != nil {
			x := ss[0].medNS / ss[1].medNS
			r.check(t, x <= 1.05, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
		}
	}
	// 9. A DPoP-bound ES256 token with its ES256 proof within 1.1x of two raw
	// ES256 verifications plus guard's HS256 bearer request.
	if ss := r.need("DPoP request within 1.1x of 2 raw ES256 + HS256 bearer", "DPoP/guard_ES256_token_ES256_proof",
		"DPoP/floor_2x_raw_ES256_plus_guard_HS256"); ss != nil {
		x := ss[0].medNS / ss[1].medNS
		r.check("DPoP request within 1.1x of 2 raw ES256 + HS256 bearer", x <= 1.1,
			fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
	}

	r.issue20(peers)

	// Concurrency: parallel ns/op over serial (1/GOMAXPROCS is perfect scaling).
	fmt.Fprintf(w, "\nConcurrency (RunParallel ns/op ÷ serial ns/op; 1/GOMAXPROCS is perfect scaling):\n")
	for _, p := range [][2]string{
		{"ParallelGuardHS256", reference},
		{"APIKey/keys=1000000/guard/parallel_hit", "APIKey/keys=1000000/guard/hit"},
	} {
		par, ser := r.get(p[0]), r.get(p[1])
		if par == nil || ser == nil || ser.medNS == 0 {
			fmt.Fprintf(w, "  n/a   %s\n", p[0])
			continue
		}
		fmt.Fprintf(w, "  %-40s %.2f (%.0f ns parallel vs %.0f ns serial)\n", p[0], par.medNS/ser.medNS, par.medNS, ser.medNS)
	}
	fmt.Fprintf(w, "\n%d target(s) failed, %d not measured.\n", r.failed, r.missed)
	return nil
}

// issue20 checks the targets of issue 20, the bearer path at the floor.
// "Net" subtracts the bare handler (Baseline/net_http), which every
// recorder row pays; the ReusedWriter rows have no recorder to subtract.
func (r *report) issue20(peers []string) {
	fmt.Fprintf(r.w, "\nTargets (issue 20; net = minus Baseline/net_http):\n")
	const bare = "Baseline/net_http"
	t := "HS256 ≥5x faster than the fastest peer, net"
	if ss := r.need(t, append([]string{reference, bare}, peers...)...); ss != nil {
		fastest := ss[2]
		for _, p := range ss[3:] {
			if p.medNS < fastest.medNS {
				fastest = p
			}
		}
		g, p := ss[0].medNS-ss[1].medNS, fastest.medNS-ss[1].medNS
		r.check(t, p >= 5*g, fmt.Sprintf("%.2fx (%s %.0f ns net vs %.0f ns net)", p/g, fastest.name, p, g))
	}
	t = "HS256 ≤2.5x the floor, net"
	if ss := r.need(t, reference, bare, "FloorHS256"); ss != nil {
		g := ss[0].medNS - ss[1].medNS
		r.check(t, g <= 2.5*ss[2].medNS, fmt.Sprintf("%.2fx (%.0f ns net vs floor %.0f ns)", g/ss[2].medNS, g, ss[2].medNS))
	}
	t = "HS256 ≤2 allocs/op of guard's own (reused writer)"
	if ss := r.need(t, "ReusedWriter/GuardHS256Success"); ss != nil {
		r.check(t, ss[0].medAll <= 2, fmt.Sprintf("%.0f allocs/op, %.0f B/op", ss[0].medAll, ss[0].medB))
	}
	t = "HS256 bad signature ≤1.0x success (reused writer)"
	if ss := r.need(t, "ReusedWriter/GuardHS256BadSig", "ReusedWriter/GuardHS256Success"); ss != nil {
		x := ss[0].medNS / ss[1].medNS
		r.check(t, x <= 1, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns)", x, ss[0].medNS, ss[1].medNS))
	}
	t = "ES256 cached ≤0.5x HS256"
	if ss := r.need(t, "GuardES256Cached", reference, bare); ss != nil {
		x := ss[0].medNS / ss[1].medNS
		net := (ss[0].medNS - ss[2].medNS) / (ss[1].medNS - ss[2].medNS)
		r.check(t, x <= 0.5, fmt.Sprintf("%.2fx (%.0f ns vs %.0f ns; net %.2fx)", x, ss[0].medNS, ss[1].medNS, net))
	}
}

func main() {
	var in io.Reader = os.Stdin
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	if err := run(in, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(2)
	}
}
