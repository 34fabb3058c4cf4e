package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/guardkit/guard"
)

// loginRequest is a sign-in page's POST from 192.0.2.1 unless changed by mods.
func loginRequest(mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize", nil)
	for _, m := range mods {
		m(r)
	}
	return r
}

// TestLogin: Login answers as the password grant does, with an *Error of
// the documented kind, and costs one key derivation on every failing path
// that has a password.
func TestLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, username, password string
		wantUser                 string // the canonical name on success
		wantErr                  error
		wantStatus               int
		wantKDF                  int
	}{
		{"right password", "alice", tokAlicePW, "alice", nil, 0, 1},
		{"wrong password", "alice", "wrong", "", guard.ErrInvalidGrant, 400, 1},
		{"unknown user", "mallory", tokAlicePW, "", guard.ErrInvalidGrant, 400, 1},
		{"disabled user", "bob", tokBobPW, "", guard.ErrInvalidGrant, 400, 1},
		{"no password stored (SSO only)", "dave", "anything", "", guard.ErrInvalidGrant, 400, 1},
		{"unreadable stored hash", "erin", "anything", "", guard.ErrInvalidGrant, 400, 1},
		{"password over the bound", "alice", strings.Repeat("p", guard.MaxPasswordLen+1), "", guard.ErrInvalidGrant, 400, 1},
		{"empty password", "alice", "", "", guard.ErrInvalidGrant, 400, 0},
		{"empty username", "", tokAlicePW, "", guard.ErrInvalidGrant, 400, 0},
		{"username over the bound", strings.Repeat("a", MaxAccountNameLen+1), "x", "", guard.ErrInvalidGrant, 400, 0},
	}
	// A password over plain HTTP from another host is refused unread; from
	// loopback it is accepted, as by the token endpoint.
	t.Run("plain HTTP", func(t *testing.T) {
		t.Parallel()
		f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
		_, err := f.e.Login(loginRequest(plainHTTP), "alice", tokAlicePW)
		if !errors.Is(err, guard.ErrInvalidRequest) || errors.Is(err, guard.ErrThrottled) || guard.ErrorOf(err).Status != 400 {
			t.Errorf("Login over plain HTTP: got %v, want a 400 invalid_request", err)
		}
		if runs := f.kdf(); runs != 0 {
			t.Errorf("key-derivation runs: got %d, want 0", runs)
		}
		if _, err := f.e.Login(loginRequest(plainHTTP, withRemote("127.0.0.1:4000")), "alice", tokAlicePW); err != nil {
			t.Errorf("Login over plain HTTP from loopback: %v", err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
			u, err := f.e.Login(loginRequest(), tt.username, tt.password)
			if tt.wantErr == nil {
				if err != nil || u.Username != tt.wantUser || u.Subject != "user-1" || u.PasswordHash != "" {
					t.Fatalf("Login: got %+v, %v; want user %q", u, err, tt.wantUser)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Login: got %v, want %v", err, tt.wantErr)
				}
				if e := guard.ErrorOf(err); e.Status != tt.wantStatus {
					t.Errorf("status: got %d, want %d", e.Status, tt.wantStatus)
				}
				if u.Username != "" || u.PasswordHash != "" {
					t.Errorf("a failed Login returned a user: %+v", u)
				}
			}
			if runs := f.kdf(); runs != tt.wantKDF {
				t.Errorf("key-derivation runs: got %d, want %d", runs, tt.wantKDF)
			}
		})
	}
}

// TestLoginSharesThrottling: guesses through a sign-in page and through the
// token endpoint draw on one budget per (account, IP), in both directions,
// and a throttled Login says when to retry.
func TestLoginSharesThrottling(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	// The fixture's pair threshold is 3: two guesses on the page and one on
	// the endpoint use it up.
	for range 2 {
		if _, err := f.e.Login(loginRequest(), "alice", "wrong"); !errors.Is(err, guard.ErrInvalidGrant) {
			t.Fatalf("guess: got %v", err)
		}
	}
	rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong")))
	checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_grant", "invalid username or password"))

	_, err := f.e.Login(loginRequest(), "alice", tokAlicePW)
	if !errors.Is(err, guard.ErrThrottled) {
		t.Fatalf("Login after three failures: got %v, want ErrThrottled", err)
	}
	if e := guard.ErrorOf(err); e.Status != http.StatusTooManyRequests || e.RetryAfter <= 0 {
		t.Errorf("throttled Login: status %d, RetryAfter %v", e.Status, e.RetryAfter)
	}
	rec = f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)))
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("token endpoint after the page's guesses: got %d, want 429", rec.Code)
	}
	if runs := f.kdf(); runs != 3 {
		t.Errorf("key-derivation runs: got %d, want 3 (throttled attempts hash nothing)", runs)
	}

	// Another client IP is another pair, and a minute later the account-wide
	// counter has let its three failures wait out.
	f.clock.Add(time.Minute)
	if u, err := f.e.Login(loginRequest(withRemote("198.51.100.7:4000")), "alice", tokAlicePW); err != nil || u.Username != "alice" {
		t.Errorf("Login from another address: got %+v, %v", u, err)
	}
}

// TestLoginRehash: a successful Login upgrades a hash below the policy; a
// failed one changes nothing.
func TestLoginRehash(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	legacy := f.users.get("carol").PasswordHash
	if _, err := f.e.Login(loginRequest(), "carol", "wrong"); !errors.Is(err, guard.ErrInvalidGrant) {
		t.Fatal(err)
	}
	if f.users.updates != 0 {
		t.Fatal("a failed Login stored a hash")
	}
	if _, err := f.e.Login(loginRequest(), "carol", tokCarolPW); err != nil {
		t.Fatal(err)
	}
	if got := f.users.get("carol").PasswordHash; got == legacy || f.users.updates != 1 {
		t.Errorf("Login did not upgrade the legacy hash (updates %d)", f.users.updates)
	}
}

// TestLoginUnavailable: a failing user store or limiter is a 503 with
// Retry-After, and an endpoint without Users refuses every Login.
func TestLoginUnavailable(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	f.users.mu.Lock()
	f.users.err = errors.New("connection refused")
	f.users.mu.Unlock()
	_, err := f.e.Login(loginRequest(), "alice", tokAlicePW)
	if e := guard.ErrorOf(err); e == nil || e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 {
		t.Errorf("user store down: got %v", err)
	}

	lim := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) { c.Limiter = tokFailingLimiter{} })
	_, err = lim.e.Login(loginRequest(), "alice", tokAlicePW)
	if e := guard.ErrorOf(err); e == nil || e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 {
		t.Errorf("limiter down: got %v", err)
	}

	var none *TokenEndpoint
	if _, err := none.Login(loginRequest(), "alice", tokAlicePW); err == nil {
		t.Error("Login on a nil TokenEndpoint succeeded")
	}
}

// TestLoginConcurrentGuesses: 50 concurrent wrong passwords for one account
// from one address through Login: exactly the pair threshold reach the
// hasher, the rest are throttled before any hashing.
func TestLoginConcurrentGuesses(t *testing.T) {
	t.Parallel()
	clock := &tokClock{t: tokNow}
	f := newTokFixture(t, guard.PasswordHasherConfig{MaxConcurrent: 64, QueueTimeout: time.Minute}, func(cfg *TokenEndpointConfig) {
		cfg.Limiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 5, Now: clock.Now})
		cfg.AccountLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, Now: clock.Now})
	})
	var wrong, throttled atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			_, err := f.e.Login(loginRequest(withRemote("198.51.100.7:1")), "alice", "wrong")
			switch {
			case errors.Is(err, guard.ErrThrottled):
				throttled.Add(1)
			case errors.Is(err, guard.ErrInvalidGrant):
				wrong.Add(1)
			default:
				t.Errorf("Login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := f.count.counts(); got[1]+got[2] != 5 {
		t.Errorf("guesses that reached the hasher: got %d, want 5", got[1]+got[2])
	}
	if wrong.Load() != 5 || throttled.Load() != 45 {
		t.Errorf("answers: %d wrong password, %d throttled; want 5 and 45", wrong.Load(), throttled.Load())
	}
}

// utf8CheckingUsers is a UserStore that, like a PostgreSQL-backed one, fails on
// a username that is not valid UTF-8 ("invalid byte sequence for encoding
// UTF8"), and counts its lookups.
type utf8CheckingUsers struct {
	*tokUsers
	lookups atomic.Int32
}

func (s *utf8CheckingUsers) LookupUser(ctx context.Context, name string) (User, error) {
	s.lookups.Add(1)
	if !utf8.ValidString(name) {
		return User{}, errors.New(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)
	}
	return s.tokUsers.LookupUser(ctx, name)
}

// TestLoginMalformedInput: Login refuses what the password grant refuses as
// malformed (a username or password that is not UTF-8) the way it refuses
// an empty one: invalid_grant, without a store lookup or a hash. Handing
// such a name to the store instead makes an SQL store fail, so anyone could
// get the sign-in page's 503 and an error-level "user store failed" line,
// unthrottled.
func TestLoginMalformedInput(t *testing.T) {
	t.Parallel()
	var store *utf8CheckingUsers
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		store = &utf8CheckingUsers{tokUsers: c.Users.(*tokUsers)}
		c.Users = store
	})
	tests := []struct{ name, username, password string }{
		{"username not UTF-8", "alice\xff", tokAlicePW},
		{"password not UTF-8", "alice", "pass\xffword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The password grant's answer: malformed, before any lookup.
			rec := f.do(tokRequest("grant_type=password&username=" + strings.ReplaceAll(tt.username, "\xff", "%FF") +
				"&password=" + strings.ReplaceAll(tt.password, "\xff", "%FF")))
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
				t.Fatalf("password grant: got %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
			if n := store.lookups.Swap(0); n != 0 {
				t.Fatalf("the password grant looked a malformed username up %d times", n)
			}

			_, err := f.e.Login(loginRequest(), tt.username, tt.password)
			if !errors.Is(err, guard.ErrInvalidGrant) || errors.Is(err, guard.ErrThrottled) {
				t.Errorf("Login: got %v, want ErrInvalidGrant", err)
			}
			if e := guard.ErrorOf(err); e == nil || e.Status != http.StatusBadRequest {
				t.Errorf("Login: got %v, want a 400", err)
			}
			if n := store.lookups.Swap(0); n != 0 {
				t.Errorf("Login handed the store a malformed input (%d lookups)", n)
			}
			if runs := f.kdf(); runs != 0 {
				t.Errorf("key-derivation runs: got %d, want 0", runs)
			}
		})
	}
}
