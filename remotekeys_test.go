package guard

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// remoteClock is a settable clock for remote key set tests.
type remoteClock struct {
	mu sync.Mutex
	t  time.Time
}

func newRemoteClock() *remoteClock { return &remoteClock{t: jwtNow} }

func (c *remoteClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *remoteClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwksServer serves whatever its current response says and counts requests.
type jwksServer struct {
	*httptest.Server
	hits    atomic.Int64
	respond atomic.Pointer[func(w http.ResponseWriter, r *http.Request)]
}

func newJWKSServer(t *testing.T, tls bool, h func(w http.ResponseWriter, r *http.Request)) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(h)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		(*s.respond.Load())(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(handler)
	} else {
		s.Server = httptest.NewServer(handler)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(h func(w http.ResponseWriter, r *http.Request)) { s.respond.Store(&h) }

// serveJSON answers 200 with body and, when not empty, Cache-Control.
func serveJSON(body []byte, cacheControl string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// jwksOf renders the public JWK Set of keys.
func jwksOf(t testing.TB, keys ...*Key) []byte {
	t.Helper()
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range keys {
		j, ok := k.publicJWK()
		if !ok {
			t.Fatalf("no public JWK for %v", k)
		}
		set.Keys = append(set.Keys, j)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawJWKS wraps raw JWK objects in a set.
func rawJWKS(keys ...string) []byte {
	return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`)
}

// errorLog collects OnError calls.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) last() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs[len(l.errs)-1]
}

// quietLogger discards log lines, or keeps them in buf when buf is not nil.
func quietLogger(buf *lockedBuffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startRemote builds and starts a set with cfg, waits for its first keys
// (unless wantReady is false), and closes it at the end of the test.
func startRemote(t *testing.T, cfg RemoteKeySetConfig, wantReady bool) *RemoteKeySet {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(nil)
	}
	s, err := NewRemoteKeySet(cfg)
	if err != nil {
		t.Fatalf("NewRemoteKeySet: %v", err)
	}
	// The background loop stays parked: tests drive fetches themselves.
	s.sleep = func(time.Duration) bool { <-s.base.Done(); return false }
	s.Start()
	t.Cleanup(func() { _ = s.Close() })
	if wantReady {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		s.mu.Lock()
		first := s.inflight
		s.mu.Unlock()
		select {
		case <-first.done: // Ready returns once the first fetch has ended
		default:
			t.Fatal("Ready returned while the first fetch was still in flight")
		}
	}
	return s
}

// refetch runs one fetch to its end and returns its error.
func refetch(t *testing.T, s *RemoteKeySet) error {
	t.Helper()
	f := s.fetch(false)
	if f == nil {
		t.Fatal("fetch: set not running")
	}
	<-f.done
	return f.err
}

// checkNoLeak fails when a goroutine of a remote key set (its loop, a
// fetch, a request it made) is still running after the test and its other
// cleanups. A stopped one ends asynchronously, so it waits for them, at most
// 5s. Call it first: cleanups run last-in first-out.
func checkNoLeak(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 4<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var ours []string
			for g := range strings.SplitSeq(string(buf), "\n\n") {
				if strings.Contains(g, "guard.(*RemoteKeySet)") || strings.Contains(g, "guard.fetchDocument") {
					ours = append(ours, g)
				}
			}
			if len(ours) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d remote key set goroutines still running:\n%s", len(ours), strings.Join(ours, "\n\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestNewRemoteKeySetConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  RemoteKeySetConfig
		err  []error  // each must match
		msgs []string // each must appear
	}{
		{name: "empty", cfg: RemoteKeySetConfig{}, msgs: []string{"needs URL or Issuer"}},
		{name: "both", cfg: RemoteKeySetConfig{URL: "https://a.example/jwks", Issuer: "https://a.example"}, msgs: []string{"not both"}},
		{name: "http to a remote host", cfg: RemoteKeySetConfig{URL: "http://idp.example/jwks"}, err: []error{ErrInsecureURL}},
		{name: "http issuer", cfg: RemoteKeySetConfig{Issuer: "http://idp.example"}, err: []error{ErrInsecureURL}},
		{name: "ftp", cfg: RemoteKeySetConfig{URL: "ftp://idp.example/jwks"}, err: []error{ErrInsecureURL}},
		{name: "no host", cfg: RemoteKeySetConfig{URL: "https:///jwks"}, err: []error{ErrInsecureURL}},
		{name: "user info", cfg: RemoteKeySetConfig{URL: "https://u:p@idp.example/jwks"}, err: []error{ErrInsecureURL}},
		{name: "issuer with query", cfg: RemoteKeySetConfig{Issuer: "https://idp.example?x=1"}, msgs: []string{"has a query"}},
		{name: "every problem at once", cfg: RemoteKeySetConfig{
			URL: "http://idp.example/jwks", Timeout: -1, MinRefresh: -1, MaxRefresh: -1, RefetchInterval: -1,
			MaxStale: -1, MaxResponseBytes: -1,
		}, err: []error{ErrInsecureURL}, msgs: []string{"Timeout", "MinRefresh", "MaxRefresh", "RefetchInterval", "MaxStale", "MaxResponseBytes"}},
		{name: "min above max", cfg: RemoteKeySetConfig{URL: "https://idp.example/jwks", MinRefresh: time.Hour, MaxRefresh: time.Minute}, msgs: []string{"above MaxRefresh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewRemoteKeySet(tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("got nil error")
			}
			for _, want := range tt.err {
				if !errors.Is(err, want) {
					t.Errorf("got %v, want it to match %v", err, want)
				}
			}
			for _, m := range tt.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("got %q, want it to mention %q", err, m)
				}
			}
		})
	}

	for _, ok := range []RemoteKeySetConfig{
		{URL: "https://idp.example/.well-known/jwks.json"},
		{URL: "http://localhost:9000/jwks"},
		{URL: "http://127.0.0.1:9000/jwks"},
		{URL: "http://[::1]:9000/jwks"},
		{URL: "http://idp.internal/jwks", DangerouslyAllowInsecureHTTP: true},
		{Issuer: "https://idp.example/tenant/"},
	} {
		s, err := NewRemoteKeySet(ok)
		if err != nil {
			t.Errorf("NewRemoteKeySet(%+v): %v", ok, err)
			continue
		}
		_ = s.Close()
	}
}

func TestCacheMaxAge(t *testing.T) {
	tests := []struct {
		values []string
		want   time.Duration
		ok     bool
	}{
		{nil, 0, false},
		{[]string{"public, max-age=300"}, 300 * time.Second, true},
		{[]string{`max-age="60"`}, time.Minute, true},
		{[]string{"public", "MAX-AGE=5"}, 5 * time.Second, true},
		{[]string{"max-age=300, no-store"}, 0, true},
		{[]string{"no-cache"}, 0, true},
		{[]string{"max-age=abc"}, 0, false},
		{[]string{"max-age=-1"}, 0, false},
		{[]string{"max-age="}, 0, false},
		{[]string{"max-age=99999999999999999999"}, (1<<32 - 1) * time.Second, true},
		{[]string{"s-maxage=600"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := cacheMaxAge(tt.values)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cacheMaxAge(%q): got %v, %v; want %v, %v", tt.values, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRemoteKeySetRefreshSchedule(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	tests := []struct {
		name         string
		cacheControl string
		want         time.Duration // time to the next scheduled fetch
	}{
		{"max-age within bounds", "public, max-age=600", 540 * time.Second},
		{"max-age below MinRefresh", "max-age=5", 54 * time.Second},
		{"max-age above MaxRefresh", "max-age=86400", 54 * time.Minute},
		{"no-store", "no-store", 54 * time.Second},
		{"no header", "", 54 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newRemoteClock()
			srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), tt.cacheControl))
			s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: clock.Now}, true)
			if got := s.nextRefresh(); got != tt.want {
				t.Errorf("next refresh: got %v, want %v", got, tt.want)
			}
			clock.Advance(10 * time.Second)
			if got := s.nextRefresh(); got != tt.want-10*time.Second {
				t.Errorf("next refresh 10s later: got %v, want %v", got, tt.want-10*time.Second)
			}
		})
	}

	t.Run("backoff after failures", func(t *testing.T) {
		srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), ""))
		s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: newRemoteClock().Now, MinRefresh: 10 * time.Second}, true)
		srv.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
		for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
			if err := refetch(t, s); err == nil {
				t.Fatal("fetch from a failing server: got nil error")
			}
			if got := s.nextRefresh(); got != want {
				t.Errorf("backoff: got %v, want %v", got, want)
			}
		}
	})
}

// TestRemoteKeySetBackgroundRefresh runs the real loop with a sleep that
// reports each wait and returns when the test says so: the set fetches
// again after the wait its max-age asks for, and picks up a new key.
func TestRemoteKeySetBackgroundRefresh(t *testing.T) {
	checkNoLeak(t)
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	clock := newRemoteClock()
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), "max-age=300"))
	s, err := NewRemoteKeySet(RemoteKeySetConfig{URL: srv.URL, Now: clock.Now, Logger: quietLogger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	waits := make(chan time.Duration)
	wake := make(chan struct{})
	s.sleep = func(d time.Duration) bool {
		select {
		case waits <- d:
		case <-s.base.Done():
			return false
		}
		select {
		case <-wake:
			return true
		case <-s.base.Done():
			return false
		}
	}
	s.Start()
	if got := <-waits; got != 270*time.Second {
		t.Errorf("first wait: got %v, want 270s", got)
	}
	if snap := s.current(); snap == nil || snap.keys.byKID["k1"] == nil {
		t.Fatal("k1 not loaded")
	}
	srv.set(serveJSON(jwksOf(t, k1, k2), "max-age=120"))
	clock.Advance(270 * time.Second)
	wake <- struct{}{}
	if got := <-waits; got != 108*time.Second {
		t.Errorf("second wait: got %v, want 108s", got)
	}
	if snap := s.current(); snap == nil || snap.keys.byKID["k2"] == nil {
		t.Error("k2 not picked up by the background refresh")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("fetches: got %d, want 2", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
}

func TestRemoteKeySetCloseStopsEverything(t *testing.T) {
	checkNoLeak(t)
	// A server that never answers: Close must not wait for its timeout.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	s, err := NewRemoteKeySet(RemoteKeySetConfig{URL: srv.URL, Timeout: time.Minute, Logger: quietLogger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ready: got %v, want context.DeadlineExceeded", err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if f := s.fetch(true); f != nil {
		t.Error("fetch after Close: got a fetch, want none")
	}
	s.Start() // after Close: nothing
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteKeySetNothingBeforeStart(t *testing.T) {
	srv := newJWKSServer(t, false, serveJSON(rawJWKS(), ""))
	s, err := NewRemoteKeySet(RemoteKeySetConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.fetch(true) != nil || s.current() != nil {
		t.Error("a set that was not started fetched or has keys")
	}
	if got := srv.hits.Load(); got != 0 {
		t.Errorf("fetches: got %d, want 0", got)
	}
}

// TestRemoteKeySetKidMissFlood is the flood: 10 000 concurrent lookups with
// random kids cost at most one fetch per RefetchInterval.
func TestRemoteKeySetKidMissFlood(t *testing.T) {
	checkNoLeak(t)
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	clock := newRemoteClock()
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), "max-age=3600"))
	s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: clock.Now, RefetchInterval: 30 * time.Second}, true)
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("initial fetches: got %d, want 1", got)
	}
	flood := func() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range 10_000 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				kid := fmt.Sprintf("%d-%s", i, rand.Text())
				_ = s.Refresh(context.Background(), kid)
				if snap, err := s.VerificationKeys(context.Background()); err != nil || snap.byKID[kid] != nil {
					t.Errorf("after Refresh(%q): got %v, %v; want the set without it", kid, snap, err)
				}
			}()
		}
		wg.Wait()
	}
	flood() // within 30s of the first fetch: none
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("fetches after a flood within the interval: got %d, want 1", got)
	}
	for round := 2; round <= 4; round++ {
		clock.Advance(30 * time.Second)
		flood()
		if got := srv.hits.Load(); got != int64(round) {
			t.Errorf("fetches after flood %d, one interval later: got %d, want %d", round, got, round)
		}
	}
	_ = s.Close()
	srv.CloseClientConnections()
}

// TestRemoteKeySetKidMissWaitsWithContext: the caller's context bounds its
// wait for a slow refetch, and the fetch goes on for the others.
func TestRemoteKeySetKidMissWaitsWithContext(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	k2 := jwtMustPriv(t, ES256, jwtP256b(), "k2")
	clock := newRemoteClock()
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), ""))
	s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: clock.Now}, true)
	release := make(chan struct{})
	srv.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		serveJSON(jwksOf(t, k1, k2), "")(w, r)
	})
	clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Refresh(ctx, "k2"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: got %v, want context.Canceled", err)
	}
	got := make(chan error)
	go func() { got <- s.Refresh(context.Background(), "k2") }()
	close(release)
	if err := <-got; err != nil {
		t.Errorf("second caller: got %v, want nil", err)
	}
	if snap, _ := s.VerificationKeys(context.Background()); snap == nil || snap.byKID["k2"] == nil {
		t.Error("second caller did not see k2 from the shared fetch")
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("fetches: got %d, want 2", n)
	}
}

// TestRemoteKeySetBadInput: each bad answer is reported (OnError and log),
// the last good keys keep serving, and nothing leaks.
func TestRemoteKeySetBadInput(t *testing.T) {
	good := jwtMustPriv(t, ES256, jwtP256(), "good")
	goodSet := jwksOf(t, good)
	ec := jwtMustPriv(t, ES256, jwtP256b(), "ec")
	ecJWK, _ := ec.publicJWK()
	rsaKey := jwtMustPriv(t, RS256, jwtRSA(), "rsa")
	rsaJWK, _ := rsaKey.publicJWK()
	small := &jwk{Kty: "RSA", Kid: "small", Alg: "RS256",
		N: b64.EncodeToString(jwtRSA1024().N.Bytes()), E: "AQAB"}
	offCurve := ecJWK
	offCurve.Kid = "offcurve"
	y, _ := b64.DecodeString(ecJWK.Y)
	y[len(y)-1] ^= 1
	offCurve.Y = b64.EncodeToString(y)
	rsaSameKid := rsaJWK
	rsaSameKid.Kid = "ec"
	contradict := rsaJWK
	contradict.Kid, contradict.Alg = "contradict", "ES256"
	mk := func(js ...any) []byte {
		var parts []string
		for _, j := range js {
			switch j := j.(type) {
			case string:
				parts = append(parts, j)
			default:
				b, err := json.Marshal(j)
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, string(b))
			}
		}
		return rawJWKS(parts...)
	}
	edJWK, _ := jwtMustPriv(t, EdDSA, jwtEd(), "").publicJWK()
	many := make([]any, 10_000) // small keys: the set stays under 1 MiB
	for i := range many {
		many[i] = fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k%d","x":%q}`, i, edJWK.X)
	}
	huge := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"keys":[`)
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for range 50 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	hugeDeclared := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(50<<20))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"keys":[`)
	}
	// never holds the connection without writing a byte until the client
	// gives up and closes it: no status can reach the client, whatever
	// happens to the request's context on the server's side.
	never := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(io.Discard, conn)
	}
	trickle := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		for range 1000 {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	}
	plain := httptest.NewServer(http.HandlerFunc(serveJSON(goodSet, "")))
	defer plain.Close()
	toHTTP := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, plain.URL, http.StatusFound) }

	tests := []struct {
		name    string
		respond func(w http.ResponseWriter, r *http.Request)
		err     error  // the fetch error must match, when set
		msg     string // and mention this
		logged  string // a log line must mention this
	}{
		{name: "10 000 keys", respond: serveJSON(mk(many...), ""), err: ErrInvalidKeySet, msg: "10000 keys"},
		{name: "50 MB body", respond: huge, err: ErrResponseTooLarge},
		{name: "50 MB declared", respond: hugeDeclared, err: ErrResponseTooLarge, msg: "Content-Length"},
		{name: "never answers", respond: never, err: context.DeadlineExceeded},
		{name: "trickles bytes", respond: trickle, msg: "body not read within"},
		{name: "redirect to http", respond: toHTTP, err: ErrInsecureURL, msg: "changes the scheme"},
		{name: "invalid JSON", respond: serveJSON([]byte(`{"keys":[`), ""), err: ErrInvalidKeySet},
		{name: "duplicate member", respond: serveJSON([]byte(`{"keys":[],"keys":[]}`), ""), err: ErrInvalidKeySet},
		{name: "no keys member", respond: serveJSON([]byte(`{}`), ""), err: ErrInvalidKeySet, msg: "no \"keys\""},
		{name: "kid collision", respond: serveJSON(mk(ecJWK, rsaSameKid), ""), err: ErrInvalidKeySet, msg: `kid "ec" is used by two keys`},
		{name: "alg contradicts key", respond: serveJSON(mk(contradict), ""), err: ErrInvalidKeySet, logged: "ES256 needs an ECDSA key"},
		{name: "RSA 1024", respond: serveJSON(mk(small), ""), err: ErrInvalidKeySet, logged: "1024 bits"},
		{name: "EC point off the curve", respond: serveJSON(mk(offCurve), ""), err: ErrInvalidKeySet, logged: "EC JWK"},
		{name: "oct key", respond: serveJSON(mk(`{"kty":"oct","kid":"h","alg":"HS256","k":"`+b64.EncodeToString(jwtSecret32)+`"}`), ""), err: ErrInvalidKeySet, msg: `private member "k"`},
		{name: "private members", respond: serveJSON(mk(`{"kty":"EC","kid":"p","crv":"P-256","x":"`+ecJWK.X+`","y":"`+ecJWK.Y+`","d":"AAAA"}`), ""), err: ErrInvalidKeySet, msg: `private member "d"`},
		{name: "oct key without k", respond: serveJSON(mk(`{"kty":"oct","kid":"h","alg":"HS256"}`), ""), err: ErrInvalidKeySet, logged: "unsupported alg"},
		{name: "use enc", respond: serveJSON(mk(`{"kty":"EC","kid":"e","use":"enc","crv":"P-256","x":"`+ecJWK.X+`","y":"`+ecJWK.Y+`"}`), ""), err: ErrInvalidKeySet, logged: "not sig"},
		{name: "status 500", respond: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }, msg: "status 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var errs errorLog
			var logs lockedBuffer
			srv := newJWKSServer(t, true, serveJSON(goodSet, ""))
			s := startRemote(t, RemoteKeySetConfig{
				URL: srv.URL, HTTPClient: srv.Client(), Timeout: 300 * time.Millisecond,
				OnError: errs.add, Logger: quietLogger(&logs),
			}, true)
			srv.set(tt.respond)
			err := refetch(t, s)
			if err == nil {
				t.Fatal("fetch: got nil error")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("fetch error: got %v, want it to match %v", err, tt.err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("fetch error: got %q, want it to mention %q", err, tt.msg)
			}
			if got := errs.last(); got != err {
				t.Errorf("OnError: got %v, want %v", got, err)
			}
			if !strings.Contains(logs.String(), "fetch failed") || tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("log: got %q, want a failure line mentioning %q", logs.String(), tt.logged)
			}
			snap := s.current()
			if snap == nil || snap.keys.byKID["good"] == nil || snap.keys.Len() != 1 {
				t.Error("the last good set is not serving")
			}
			_ = s.Close()
			srv.CloseClientConnections()
			srv.Client().CloseIdleConnections()
		})
	}
}

// TestRemoteKeySetSkipsBadKeys: unusable keys next to good ones are
// skipped and logged; the good ones load, as public keys only.
func TestRemoteKeySetSkipsBadKeys(t *testing.T) {
	ec := jwtMustPriv(t, ES256, jwtP256(), "ec")
	ecJWK, _ := ec.publicJWK()
	ecJWK.Alg, ecJWK.Use = "", "" // the curve implies ES256
	rsaKey := jwtMustPriv(t, RS256, jwtRSA(), "rsa")
	rsaJWK, _ := rsaKey.publicJWK()
	ecB, _ := json.Marshal(ecJWK)
	rsaB, _ := json.Marshal(rsaJWK)
	entra := jwtMustPriv(t, RS256, jwtRSA2(), "noalg")
	entraJWK, _ := entra.publicJWK()
	entraJWK.Alg = "" // as Microsoft Entra ID publishes its keys: RS256 is implied
	entraB, _ := json.Marshal(entraJWK)
	body := rawJWKS(string(ecB), string(rsaB), string(entraB),
		`{"kty":"oct","kid":"h","alg":"HS256"}`,
		`{"kty":"RSA","kid":"small","alg":"RS256","n":"`+b64.EncodeToString(jwtRSA1024().N.Bytes())+`","e":"AQAB"}`,
		`{"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n":"`+rsaJWK.N+`","e":"AQAB"}`,
		`{"kty":"EC","kid":"x448","crv":"X448","x":"AA"}`)
	var logs lockedBuffer
	srv := newJWKSServer(t, false, serveJSON(body, ""))
	s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Logger: quietLogger(&logs)}, true)
	snap := s.current()
	if snap == nil {
		t.Fatal("no keys")
	}
	if k := snap.keys.byKID["ec"]; k == nil || k.Algorithm() != ES256 {
		t.Errorf("ec: got %v, want an ES256 key", k)
	}
	if k := snap.keys.byKID["rsa"]; k == nil || k.Algorithm() != RS256 {
		t.Errorf("rsa: got %v, want an RS256 key", k)
	}
	if k := snap.keys.byKID["noalg"]; k == nil || k.Algorithm() != RS256 {
		t.Errorf("noalg: got %v, want an RS256 key", k)
	}
	if snap.keys.Len() != 3 {
		t.Errorf("keys: got %d, want 3", snap.keys.Len())
	}
	for _, k := range snap.keys.keys {
		if k.CanSign() || k.Algorithm().isHMAC() {
			t.Errorf("%v holds secret material", k)
		}
	}
	if got := strings.Count(logs.String(), "key skipped"); got != 4 {
		t.Errorf("skipped-key log lines: got %d, want 4\n%s", got, logs.String())
	}
}

// TestRemoteKeySetMaxStale: with every refresh failing, the last good set
// serves until its freshness plus MaxStale has passed, then none does.
func TestRemoteKeySetMaxStale(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	clock := newRemoteClock()
	srv := newJWKSServer(t, false, serveJSON(jwksOf(t, k1), "max-age=600"))
	s := startRemote(t, RemoteKeySetConfig{URL: srv.URL, Now: clock.Now, MaxStale: time.Hour}, true)
	srv.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	clock.Advance(10*time.Minute + time.Hour - time.Second)
	if err := refetch(t, s); err == nil {
		t.Fatal("fetch: got nil error")
	}
	if s.current() == nil {
		t.Error("1s before the ceiling: no keys, want the last good set")
	}
	clock.Advance(time.Second)
	if s.current() != nil {
		t.Error("at the ceiling: got keys, want none")
	}
	srv.set(serveJSON(jwksOf(t, k1), "max-age=600"))
	if err := refetch(t, s); err != nil {
		t.Fatal(err)
	}
	if s.current() == nil {
		t.Error("after a good fetch: no keys")
	}
}

func TestRemoteRedirects(t *testing.T) {
	k1 := jwtMustPriv(t, ES256, jwtP256(), "k1")
	target := newJWKSServer(t, true, serveJSON(jwksOf(t, k1), ""))
	tests := []struct {
		name     string
		location func() string
		client   *http.Client
		err      error
	}{
		{name: "https to https", location: func() string { return target.URL + "/keys" }},
		{name: "to another scheme", location: func() string { return "ftp://idp.example/keys" }, err: ErrInsecureURL},
		{name: "to http", location: func() string { return "http://127.0.0.1:1/keys" }, err: ErrInsecureURL},
		{name: "caller's policy still applies", location: func() string { return target.URL + "/keys" },
			client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := newJWKSServer(t, true, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tt.location(), http.StatusFound)
			})
			base := target.Client()
			if tt.client != nil {
				tt.client.Transport = base.Transport
				base = tt.client
			}
			c := remoteClient(base, false)
			_, _, _, err := fetchDocument(context.Background(), c, from.URL, 1<<20, 5*time.Second)
			if tt.client != nil {
				if err == nil || !strings.Contains(err.Error(), "status 302") {
					t.Errorf("got %v, want the caller's policy (stop at the 302)", err)
				}
				return
			}
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
}
