// Command loginstorm measures what a storm of failing logins does to a
// bearer-protected route of the example server (examples/server), the load
// test of issue 20. Run it through ../loginstorm.sh, which builds the server,
// pins it to one core and this program to another.
//
// It logs in once as alice to get an access token, then runs two phases:
//
//   - idle: Conns goroutines request GET /protected with the token in a
//     closed loop, one request at a time each;
//   - storm: the same, while Addrs clients, each from its own loopback source
//     address (127.0.0.2, 127.0.0.3, …, so the per-IP login throttling sees
//     Addrs addresses), post wrong passwords for names that do not exist
//     (a fresh name for every attempt, so no account or account+IP counter
//     ever throttles them): every attempt the server admits costs one
//     password hash. A client that gets 503 waits for its Retry-After plus
//     up to a second of jitter, as a well-behaved client does
//     (-ignore-retry-after: it retries at once).
//
// It prints the bearer route's p50, p99 and requests per second in each
// phase, how many login attempts were evaluated (400 invalid_grant, a hash
// was run) and how many were refused (503, 429), and the evaluation rate next
// to the rate a CPU budget of -budget × GOMAXPROCS would allow, with the
// CPU time of one hash measured here (bcrypt at -cost).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18000", "the server's base URL")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "length of the idle phase")
	flag.DurationVar(&o.storm, "storm", 20*time.Second, "length of the storm phase")
	flag.IntVar(&o.conns, "conns", 8, "bearer-route connections (closed loop)")
	flag.IntVar(&o.addrs, "addrs", 64, "login-storm clients, one loopback source address each")
	flag.BoolVar(&o.ignoreRetryAfter, "ignore-retry-after", false, "storm clients retry a 503 at once")
	flag.Float64Var(&o.budget, "budget", 0.35, "the server's hashing CPU budget, fraction of its GOMAXPROCS")
	flag.IntVar(&o.procs, "server-procs", 1, "the server's GOMAXPROCS")
	flag.IntVar(&o.cost, "cost", 12, "bcrypt cost of the server's hasher, to measure one hash here")
	flag.DurationVar(&o.wait, "wait", 30*time.Second, "how long to wait for the server to answer")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loginstorm:", err)
		os.Exit(1)
	}
}

type options struct {
	base             string
	idle, storm      time.Duration
	conns, addrs     int
	ignoreRetryAfter bool
	budget           float64
	procs, cost      int
	wait             time.Duration
}

func run(o options) error {
	token, err := login(o.base, o.wait)
	if err != nil {
		return err
	}
	hashCost := measureHash(o.cost)

	// A short warm-up so both phases start with open connections.
	bearer(o.base, token, o.conns, time.Second, nil)

	idle := bearer(o.base, token, o.conns, o.idle, nil)
	var st stormStats
	storm := bearer(o.base, token, o.conns, o.storm, func(stop <-chan struct{}) func() {
		return loginStorm(o, stop, &st)
	})

	secs := o.storm.Seconds()
	evaluated := st.codes[http.StatusBadRequest].Load()
	refused := st.codes[http.StatusServiceUnavailable].Load()
	throttled := st.codes[http.StatusTooManyRequests].Load()
	other := st.other.Load()
	budgetRate := o.budget * float64(o.procs) / hashCost.Seconds()

	fmt.Printf("bearer idle:  p50 %s  p99 %s  %.0f req/s  (%d requests, %d errors)\n",
		ms(idle.pct(.5)), ms(idle.pct(.99)), idle.rate(), len(idle.lat), idle.errors)
	fmt.Printf("bearer storm: p50 %s  p99 %s  %.0f req/s  (%d requests, %d errors)\n",
		ms(storm.pct(.5)), ms(storm.pct(.99)), storm.rate(), len(storm.lat), storm.errors)
	fmt.Printf("storm: %d clients for %v: %d evaluated (400), %d answered 503, %d answered 429, %d other\n",
		o.addrs, o.storm, evaluated, refused, throttled, other)
	if n := len(st.retryAfter); n > 0 {
		slices.Sort(st.retryAfter)
		fmt.Printf("storm: Retry-After on 503: min %ds, median %ds, max %ds\n", st.retryAfter[0], st.retryAfter[n/2], st.retryAfter[n-1])
	}
	if n := len(st.evalLat); n > 0 {
		slices.Sort(st.evalLat)
		fmt.Printf("storm: evaluated login latency p50 %s, p99 %s\n", ms(st.evalLat[n/2]), ms(st.evalLat[(n-1)*99/100]))
	}
	fmt.Printf("hash: bcrypt cost %d takes %s here; a budget of %.2f × %d CPU allows %.2f hashes/s; evaluated %.2f/s (%.0f%% of it)\n",
		o.cost, ms(hashCost), o.budget, o.procs, budgetRate, float64(evaluated)/secs, 100*float64(evaluated)/secs/budgetRate)
	fmt.Printf("targets: storm p50 %.2fx idle (want ≤ 2), storm throughput %.0f%% of idle (want ≥ 50%%)\n",
		float64(storm.pct(.5))/float64(idle.pct(.5)), 100*storm.rate()/idle.rate())
	return nil
}

// login gets an access token for alice, retrying until the server answers.
func login(base string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}
	for {
		resp, err := http.PostForm(base+"/token", form)
		if err == nil {
			var body struct {
				AccessToken string `json:"access_token"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && body.AccessToken != "" {
				return body.AccessToken, nil
			}
			if err == nil {
				err = fmt.Errorf("login: status %d", resp.StatusCode)
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("server at %s did not answer: %w", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// measureHash is the least CPU time of a few bcrypt checks at cost, the
// thread's CPU time (as the server's budget counts it), so that load on the
// machine does not inflate it.
func measureHash(cost int) time.Duration {
	hash, err := bcrypt.GenerateFromPassword([]byte("x"), cost)
	if err != nil {
		panic(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := threadCPU()
		_ = bcrypt.CompareHashAndPassword(hash, []byte("y"))
		best = min(best, threadCPU()-start)
	}
	return best
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

type phase struct {
	lat     []time.Duration
	errors  int
	elapsed time.Duration
}

func (p *phase) pct(q float64) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	return p.lat[int(float64(len(p.lat)-1)*q)]
}

func (p *phase) rate() float64 { return float64(len(p.lat)) / p.elapsed.Seconds() }

// bearer runs conns closed-loop clients of GET /protected for d. When
// background is set, it is started with the phase's stop channel and the
// function it returns is called to wait for it.
func bearer(base, token string, conns int, d time.Duration, background func(stop <-chan struct{}) func()) phase {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	stop := make(chan struct{})
	var wait func()
	if background != nil {
		wait = background(stop)
	}
	var mu sync.Mutex
	var p phase
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			errs := 0
			for {
				select {
				case <-stop:
					mu.Lock()
					p.lat = append(p.lat, lat...)
					p.errors += errs
					mu.Unlock()
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, base+"/protected", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
		})
	}
	time.Sleep(d)
	close(stop)
	p.elapsed = time.Since(start)
	wg.Wait()
	if wait != nil {
		wait()
	}
	slices.Sort(p.lat)
	return p
}

type stormStats struct {
	codes      [600]atomic.Int64
	other      atomic.Int64
	mu         sync.Mutex
	retryAfter []int
	evalLat    []time.Duration
}

// loginStorm starts o.addrs clients posting failing logins until stop is
// closed; the returned function waits for them.
func loginStorm(o options, stop <-chan struct{}, st *stormStats) func() {
	var wg sync.WaitGroup
	for i := range o.addrs {
		src := net.IPv4(127, 0, byte(2+i/250), byte(2+i%250))
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 1, DisableCompression: true}
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			sleep(stop, rand.N(time.Second)) // the clients arrive over a second
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				form := url.Values{"grant_type": {"password"},
					"username": {"storm-" + src.String() + "-" + strconv.Itoa(n)}, "password": {"wrong-" + strconv.Itoa(n)}}
				req, _ := http.NewRequest(http.MethodPost, o.base+"/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					st.other.Add(1)
					sleep(stop, 100*time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode > 0 && resp.StatusCode < len(st.codes) {
					st.codes[resp.StatusCode].Add(1)
				}
				switch resp.StatusCode {
				case http.StatusBadRequest:
					st.mu.Lock()
					st.evalLat = append(st.evalLat, d)
					st.mu.Unlock()
				case http.StatusServiceUnavailable, http.StatusTooManyRequests:
					secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					if resp.StatusCode == http.StatusServiceUnavailable {
						st.mu.Lock()
						st.retryAfter = append(st.retryAfter, secs)
						st.mu.Unlock()
					}
					if !o.ignoreRetryAfter {
						// Jittered, as clients that back off do: 64 clients
						// that all waited exactly Retry-After would come back
						// in waves, with the budget idle in between.
						sleep(stop, time.Duration(max(secs, 1))*time.Second+rand.N(time.Second))
					}
				default:
					st.other.Add(1)
				}
			}
		})
	}
	return wg.Wait
}

// sleep waits for d or until stop is closed.
func sleep(stop <-chan struct{}, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-stop:
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }
