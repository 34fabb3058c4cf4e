package redisstore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/guardtest"
	"github.com/redis/go-redis/v9"
)

func TestReplayCache(t *testing.T) { forEachBackend(t, testReplayCache) }

// commandCounter counts the commands a client sends.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func testReplayCache(t *testing.T, srv *backend) {
	st := srv.store(t, "rc:")
	rc := st.ReplayCache()
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	for i, want := range []bool{true, false, false} {
		first, err := rc.Remember(ctx, "jkt:jti-1", until)
		if err != nil || first != want {
			t.Fatalf("Remember #%d: got %v, %v; want %v", i, first, err, want)
		}
	}
	if first, err := rc.Remember(ctx, "other-jkt:jti-1", until); !first || err != nil {
		t.Fatalf("another key: got %v, %v", first, err)
	}
	// The key expires at until, by Redis's clock.
	key := st.key("dpop:", []byte("jkt:jti-1"))
	if exp, err := st.rdb.Do(ctx, "PEXPIRETIME", key).Int64(); err == nil { // Redis 7
		if exp != until.UnixMilli() {
			t.Errorf("PEXPIRETIME: got %d, want %d", exp, until.UnixMilli())
		}
	} else if ttl, err := st.rdb.PTTL(ctx, key).Result(); err != nil || ttl <= 55*time.Second || ttl > time.Minute {
		t.Errorf("PTTL: got %v, %v; want about a minute", ttl, err)
	}
	// A key whose time has passed is not kept: the proof is too old anyway.
	past := time.Now().Add(-time.Second)
	for range 2 {
		if first, err := rc.Remember(ctx, "jkt:old", past); !first || err != nil {
			t.Fatalf("past: got %v, %v; want true", first, err)
		}
	}
	// One round trip, one command.
	counter := &commandCounter{}
	c := srv.client(t)
	c.AddHook(counter)
	st2, _ := New(c, Config{Prefix: st.prefix})
	if _, err := st2.ReplayCache().Remember(ctx, "jkt:warm-up", until); err != nil { // dials: HELLO, CLIENT SETINFO…
		t.Fatal(err)
	}
	counter.n.Store(0)
	if first, err := st2.ReplayCache().Remember(ctx, "jkt:jti-2", until); !first || err != nil {
		t.Fatalf("counted: got %v, %v", first, err)
	}
	if n := counter.n.Load(); n != 1 {
		t.Errorf("Remember sent %d commands, want 1", n)
	}
}

func TestReplayCacheConcurrent(t *testing.T) { forEachBackend(t, testReplayCacheConcurrent) }

// testReplayCacheConcurrent: replicas receiving one proof at once accept it
// exactly once.
func testReplayCacheConcurrent(t *testing.T, srv *backend) {
	caches := []guard.ReplayCache{srv.store(t, "rcc:").ReplayCache(), srv.store(t, "rcc:").ReplayCache()}
	until := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	var firsts, errs atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			first, err := caches[i%2].Remember(context.Background(), "jkt:same", until)
			if err != nil {
				errs.Add(1)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 || errs.Load() != 0 {
		t.Fatalf("got %d firsts and %d errors, want 1 and 0", firsts.Load(), errs.Load())
	}
}

// dpopResource is a resource server whose DPoP replay cache is st's.
func dpopResource(t *testing.T, st *Store) (http.Handler, func() *http.Request) {
	t.Helper()
	key := guardtest.ES256Key(t, "k1")
	iss := guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key})
	d, err := guard.NewDPoP(guard.DPoPConfig{Replay: st.ReplayCache()})
	if err != nil {
		t.Fatal(err)
	}
	v := guardtest.Verifier(t, guard.VerifierConfig{Keys: []*guard.Key{key.Public()}, DPoP: d})
	client := guardtest.NewDPoPKey(t)
	tok := client.BoundToken(t, iss, guard.Claims{Subject: "alice"})
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	return h, func() *http.Request { return client.DPoPRequest(t, "GET", "https://api.example.com/orders", tok) }
}

// TestReplayCacheRedisDown: with Redis stopped, or frozen past the store's
// timeout (slow), a DPoP request gets 503 with Retry-After, quickly: the
// resource server fails closed. Once Redis answers again (paused, then
// continued; restarted), requests pass, and a proof is still accepted once.
func TestReplayCacheRedisDown(t *testing.T) {
	t.Parallel() // on private backends, waiting on timeouts and restarts
	for _, k := range []backendKind{standalone, cluster} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			srv := privateBackend(t, k)
			st, err := New(srv.client(t), Config{Prefix: "d:", Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			h, req := dpopResource(t, st)
			do := func(r *http.Request) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				return rec
			}
			if rec := do(req()); rec.Code != http.StatusNoContent {
				t.Fatalf("Redis up: got %d %v", rec.Code, rec.Header())
			}
			want503 := func(phase string) {
				t.Helper()
				start := time.Now()
				rec := do(req())
				if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
					t.Errorf("%s: got %d %v %q, want 503 with Retry-After", phase, rec.Code, rec.Header(), rec.Body.String())
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("%s: took %v, want the store's timeout and little more", phase, took)
				}
			}
			srv.signal(t, syscall.SIGSTOP)
			want503("frozen")
			srv.signal(t, syscall.SIGCONT)
			r := req()
			if rec := do(r); rec.Code != http.StatusNoContent {
				t.Errorf("continued: got %d %v", rec.Code, rec.Header())
			}
			if rec := do(r); rec.Code != http.StatusUnauthorized {
				t.Errorf("continued, replay: got %d, want 401", rec.Code)
			}
			srv.stop()
			want503("stopped")
			srv.start(t)
			deadline := time.Now().Add(5 * time.Second)
			for rec := do(req()); rec.Code != http.StatusNoContent; rec = do(req()) {
				if time.Now().After(deadline) {
					t.Fatalf("5s after restart: got %d", rec.Code)
				}
				time.Sleep(50 * time.Millisecond) // go-redis dials again about once a second
			}
		})
	}
}
