package authserver

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// TestDefaultLimitersFollowNow: the limiters a TokenEndpoint makes when
// none are configured run on TokenEndpointConfig.Now, so a test clock moves
// their waits as guardtest's clock documentation promises (issue 17, item
// 12).
func TestDefaultLimitersFollowNow(t *testing.T) {
	t.Parallel()
	clock := &tokClock{t: tokNow}
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter = nil, nil, nil
		c.Now = clock.Now
	})
	bad := func() *http.Request {
		return tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong"))
	}
	for i := range 5 {
		if rec := f.do(bad()); rec.Code != http.StatusBadRequest {
			t.Fatalf("guess %d: got %d, want 400", i+1, rec.Code)
		}
	}
	rec := f.do(bad())
	wait, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if rec.Code != http.StatusTooManyRequests || err != nil || wait < 1 {
		t.Fatalf("sixth guess: got %d Retry-After %q, want 429 and a wait", rec.Code, rec.Header().Get("Retry-After"))
	}
	clock.Add(time.Duration(wait) * time.Second)
	if rec := f.do(bad()); rec.Code != http.StatusBadRequest {
		t.Errorf("after the wait on the endpoint's clock: got %d, want 400 (evaluated, not throttled)", rec.Code)
	}
}
