package redisstore

import (
	"context"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/guardkit/guard/authserver"
)

// pausingRefresh freezes redis-server (SIGSTOP) as one rotation starts and
// thaws it (SIGCONT) after the store's timeout has fired: the client gives
// up, and the script runs when Redis wakes.
type pausingRefresh struct {
	*RefreshTokens
	once   sync.Once
	armed  chan struct{}
	freeze func()
}

func (p *pausingRefresh) RotateRefreshToken(ctx context.Context, rot authserver.RefreshRotation) (authserver.RefreshFamily, []byte, error) {
	select {
	case <-p.armed:
		p.once.Do(p.freeze)
	default:
	}
	return p.RefreshTokens.RotateRefreshToken(ctx, rot)
}

// TestRefreshRedisPausedDuringRotation is issue 17, item 1, on a real
// redis-server: the rotation's call times out (503) while Redis is
// stopped, the script runs once Redis continues, and the client's retry of
// the same refresh token gets the successor instead of tripping reuse
// detection.
func TestRefreshRedisPausedDuringRotation(t *testing.T) {
	t.Parallel() // on a private backend it stops
	srv := privateBackend(t, standalone)
	st, err := New(srv.client(t), Config{Prefix: "p:", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	thawed := make(chan struct{})
	store := &pausingRefresh{RefreshTokens: st.RefreshTokens(), armed: make(chan struct{}), freeze: func() {
		srv.signal(t, syscall.SIGSTOP)
		go func() {
			defer close(thawed)
			time.Sleep(600 * time.Millisecond) // a process paused past the client's timeout, not a test's timing
			_ = srv.nodes[0].Signal(syscall.SIGCONT)
		}()
	}}
	in := newInstance(t, st, testKey(t), func(c *authserver.TokenEndpointConfig) { c.Refresh.Store = store })
	refresh := func(rt string) reply {
		return in.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	// A first refresh loads the rotation script into Redis (EVALSHA finds it).
	_, rt := login(t, in)
	r := refresh(rt)
	if r.status != 200 {
		t.Fatalf("warm-up refresh: %d %v", r.status, r.body)
	}
	rt = r.body["refresh_token"].(string)

	close(store.armed)
	wantError(t, "refresh while Redis is stopped", refresh(rt), 503, "temporarily_unavailable")
	<-thawed
	// The script ran after the timeout: the family holds a previous token.
	keys, err := keysUnder(context.Background(), st.rdb, "p:rt:")
	if err != nil || len(keys) != 1 {
		t.Fatalf("family keys: %q, %v; want one", keys, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.rdb.HGet(context.Background(), keys[0], "grace").Val() == "" || st.rdb.HGet(context.Background(), keys[0], "ats").Val() == "" {
		if time.Now().After(deadline) {
			t.Fatal("the rotation never ran after SIGCONT")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r = refresh(rt) // the client's retry
	if r.status != 200 {
		t.Fatalf("retry after the 503: got %d %v, want 200", r.status, r.body)
	}
	if r = refresh(r.body["refresh_token"].(string)); r.status != 200 {
		t.Fatalf("the successor: got %d %v, want 200", r.status, r.body)
	}
}
