//go:build load

package authserver

// The login storm: go test -tags load -run TestTokenLoad -v .
//
// It fires 10x more concurrent logins than the hashing pool has slots, at
// the production default cost (bcrypt, cost 12), while a bearer-protected
// route is served at the same time, and reports the status counts, peak
// goroutines and memory, and the latency of the bearer route.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

func TestTokenLoad(t *testing.T) {
	for _, qt := range []time.Duration{time.Second, 100 * time.Millisecond} {
		t.Run("QueueTimeout="+qt.String(), func(t *testing.T) { runTokenLoad(t, qt) })
	}
}

func runTokenLoad(t *testing.T, queueTimeout time.Duration) {
	const duration = 4 * time.Second
	ctx := context.Background()
	// The default pool size (half of GOMAXPROCS), with ten times as many workers.
	h, err := guard.NewPasswordHasher(guard.PasswordHasherConfig{QueueTimeout: queueTimeout})
	if err != nil {
		t.Fatal(err)
	}
	slots := max(1, runtime.GOMAXPROCS(0)/2) // the default MaxConcurrent
	workers := 10 * slots
	hash, err := h.Hash(ctx, tokAlicePW)
	if err != nil {
		t.Fatal(err)
	}
	us := &tokUsers{users: map[string]User{}}
	for i := range workers {
		us.users["user"+strconv.Itoa(i)] = User{PasswordHash: guard.Secret(hash), Roles: []string{"user"}}
	}
	key, err := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "")
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	ver, _ := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
	te, err := NewTokenEndpoint(TokenEndpointConfig{
		Issuer: iss, Hasher: h, Users: us, EnablePasswordGrant: true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/token", te)
	mux.Handle("/protected", ver.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		_, _ = io.WriteString(w, p.Subject)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * workers}}
	bearer, err := iss.Issue(ctx, guard.Claims{Subject: "probe"})
	if err != nil {
		t.Fatal(err)
	}

	probe := func(stop <-chan struct{}) []time.Duration {
		var lat []time.Duration
		for {
			select {
			case <-stop:
				return lat
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/protected", nil)
			req.Header.Set("Authorization", "Bearer "+bearer)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return lat
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			if resp.StatusCode != 200 {
				t.Errorf("protected route: %d", resp.StatusCode)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	pct := func(lat []time.Duration, p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		s := slices.Clone(lat)
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)]
	}

	// Baseline: the bearer route alone.
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	base := probe(stop)

	// The storm.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore, sysBefore := ms.HeapInuse, ms.Sys
	var peakG, peakHeap, peakSys atomic.Uint64
	var codes sync.Map // status -> *atomic.Int64
	count := func(code int) {
		v, _ := codes.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	stop = make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // sampler
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if g := uint64(runtime.NumGoroutine()); g > peakG.Load() {
				peakG.Store(g)
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			if ms.Sys > peakSys.Load() {
				peakSys.Store(ms.Sys)
			}
		}
	})
	var loginLat sync.Mutex
	var logins []time.Duration
	for i := range workers {
		wg.Go(func() {
			// A quarter of the workers guess user0's password, each from its
			// own address (429 once that pair passes its threshold, which a
			// pool this small rarely lets it reach in the run: most get 503);
			// the others log in as themselves.
			user, pw := "user"+strconv.Itoa(i), tokAlicePW
			if i%4 == 0 {
				user, pw = "user0", "guess"
			}
			body := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}.Encode()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				count(resp.StatusCode)
				loginLat.Lock()
				logins = append(logins, d)
				loginLat.Unlock()
			}
		})
	}
	var storm []time.Duration
	wg.Go(func() { storm = probe(stop) })
	time.Sleep(duration)
	close(stop)
	wg.Wait()

	var summary []string
	codes.Range(func(k, v any) bool {
		summary = append(summary, strconv.Itoa(k.(int))+": "+strconv.FormatInt(v.(*atomic.Int64).Load(), 10))
		return true
	})
	slices.Sort(summary)
	t.Logf("pool %d slots, QueueTimeout %v, %d concurrent login workers for %v, GOMAXPROCS %d", slots, queueTimeout, workers, duration, runtime.GOMAXPROCS(0))
	t.Logf("login statuses: %s (total %d)", strings.Join(summary, ", "), len(logins))
	t.Logf("login latency p50 %v p99 %v max %v", pct(logins, .5), pct(logins, .99), pct(logins, 1))
	t.Logf("peak goroutines %d; peak HeapInuse %.1f MiB (%.1f before), peak Sys %.1f MiB (%.1f before)",
		peakG.Load(), float64(peakHeap.Load())/(1<<20), float64(heapBefore)/(1<<20), float64(peakSys.Load())/(1<<20), float64(sysBefore)/(1<<20))
	t.Logf("bearer route alone: %d requests, p50 %v p99 %v", len(base), pct(base, .5), pct(base, .99))
	t.Logf("bearer route during the storm: %d requests, p50 %v p99 %v max %v", len(storm), pct(storm, .5), pct(storm, .99), pct(storm, 1))
}
