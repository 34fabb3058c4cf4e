package authserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// TestTokenBusyBudget: once the hasher's CPU budget is spent, logins get
// 503 temporarily_unavailable at once, with the Retry-After the hasher
// computes (when its budget would admit a hash again) rather than the
// pool's fixed second.
func TestTokenBusyBudget(t *testing.T) {
	t.Parallel()
	busy := tokErrBody("temporarily_unavailable", "server busy; retry later")
	login := func() *http.Request {
		return tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW))
	}

	// The real hasher with a budget of 0.1% of the CPU, slots to spare: once
	// one login has measured a hash (bcrypt at cost 10, which takes more
	// than the 2 ms or so the budget holds), of several logins at once the
	// first is admitted and the others are refused by the budget at once.
	// (Logins one after another would each find the budget earned back:
	// a hash counts for at most a window, a second, and under -race on a
	// loaded machine one login can take that long.)
	f := newTokFixture(t, guard.PasswordHasherConfig{CPUBudget: 0.001, MaxConcurrent: 8, QueueTimeout: -1}, nil)
	f.checkTokSuccess(t, f.do(login()), "read write")
	recs := make([]*httptest.ResponseRecorder, 8)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() { recs[i] = f.do(login()) })
	}
	wg.Wait()
	refused := 0
	for _, rec := range recs {
		if rec.Code == http.StatusOK {
			continue
		}
		refused++
		ra := rec.Header().Get("Retry-After")
		if ra != "1" && ra != "2" {
			t.Errorf("Retry-After %q, want the budget's wait of at most about a window, 1 or 2", ra)
		}
		checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", ra), busy)
	}
	if refused == 0 {
		t.Errorf("8 logins at once on a spent budget: none refused")
	}

	// The endpoint sends the hasher's RetryAfter, rounded up to seconds.
	f.e.hasher = budgetSpentHasher{6500 * time.Millisecond}
	for name, r := range map[string]*http.Request{
		"known user":   login(),
		"unknown user": tokRequest(form("grant_type", "password", "username", "nobody", "password", "x")),
		"client":       tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)),
	} {
		t.Run(name, func(t *testing.T) {
			checkTokResponse(t, f.do(r), 503, tokErrorHeaders("Retry-After", "7"), busy)
		})
	}
}

// budgetSpentHasher refuses every call as a hasher whose CPU budget frees
// after wait.
type budgetSpentHasher struct{ wait time.Duration }

func (b budgetSpentHasher) err() error {
	return &guard.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", RetryAfter: b.wait, Err: guard.ErrBusy}
}

func (b budgetSpentHasher) Hash(context.Context, string) (guard.Secret, error) { return "", b.err() }
func (b budgetSpentHasher) Verify(context.Context, string, guard.Secret) (bool, error) {
	return false, b.err()
}
func (b budgetSpentHasher) VerifyDummy(context.Context, string) error { return b.err() }
