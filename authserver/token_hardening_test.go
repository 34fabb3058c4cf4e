package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// Regression tests for the token endpoint's login defences: each names the
// finding it covers.

var tokBadLogin = tokErrBody("invalid_grant", "invalid username or password")

func tokThrottled(secs string) (http.Header, string) {
	return tokErrorHeaders("Retry-After", secs), tokErrBody("invalid_request", "too many failed attempts; retry later")
}

// TestTokenConcurrentGuesses: check and count are one step, so 50
// concurrent guesses let at most the threshold reach the hasher, per account
// and per IP.
func TestTokenConcurrentGuesses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mod  func(*TokenEndpointConfig, *tokClock)
		user func(i int) string
	}{
		{"one account from one IP", func(cfg *TokenEndpointConfig, clock *tokClock) {
			cfg.Limiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 5, Now: clock.Now})
		}, func(int) string { return "alice" }},
		{"many accounts from one IP", func(cfg *TokenEndpointConfig, clock *tokClock) {
			cfg.IPLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 5, Now: clock.Now})
		}, func(i int) string { return "user" + strconv.Itoa(i) }},
		{"one account from many IPs", func(cfg *TokenEndpointConfig, clock *tokClock) {
			cfg.AccountLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 5, Now: clock.Now})
		}, func(int) string { return "alice" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := &tokClock{t: tokNow}
			f := newTokFixture(t, guard.PasswordHasherConfig{MaxConcurrent: 64, QueueTimeout: time.Minute}, func(cfg *TokenEndpointConfig) {
				cfg.Limiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, Now: clock.Now})
				cfg.AccountLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 1000, Now: clock.Now})
				c.mod(cfg, clock)
			})
			var wg sync.WaitGroup
			var statuses [600]atomic.Int32
			start := make(chan struct{})
			for i := range 50 {
				remote := "198.51.100.7:1"
				if c.name == "one account from many IPs" {
					remote = "198.51.100." + strconv.Itoa(i+1) + ":1"
				}
				wg.Go(func() {
					<-start
					rec := f.do(tokRequest(form("grant_type", "password", "username", c.user(i), "password", "wrong"), withRemote(remote)))
					statuses[rec.Code].Add(1)
				})
			}
			close(start)
			wg.Wait()
			got := f.count.counts()
			if hashed := got[1] + got[2]; hashed != 5 {
				t.Errorf("guesses that reached the hasher: got %d, want 5", hashed)
			}
			if n400, n429 := statuses[400].Load(), statuses[429].Load(); n400 != 5 || n429 != 45 {
				t.Errorf("answers: got %d×400 and %d×429, want 5 and 45", n400, n429)
			}
		})
	}
}

// foldingUsers is a UserStore that folds case and trims, as citext or a *_ci
// collation does, and reports the canonical name.
type foldingUsers struct {
	*tokUsers
	lookups atomic.Int32
}

func (s *foldingUsers) LookupUser(ctx context.Context, name string) (User, error) {
	s.lookups.Add(1)
	canon := strings.ToLower(strings.TrimSpace(name))
	u, err := s.tokUsers.LookupUser(ctx, canon)
	if err == nil {
		u.Username = canon
	}
	return u, err
}

// TestTokenCanonicalUsername: throttling and the token's subject use the
// store's name for the account, not the spelling the client typed.
func TestTokenCanonicalUsername(t *testing.T) {
	t.Parallel()
	var users *foldingUsers
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		users = &foldingUsers{tokUsers: c.Users.(*tokUsers)}
		c.Users = users
	})
	for _, name := range []string{"Alice", "ALICE", " alice"} {
		checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", name, "password", "wrong"))), 400, tokErrorHeaders(), tokBadLogin)
	}
	h, b := tokThrottled("1")
	checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW))), 429, h, b)
	f.clock.Add(time.Second)
	// carol has no Subject: the token says the canonical name.
	c := f.checkTokSuccess(t, f.do(tokRequest(form("grant_type", "password", "username", "CaRoL", "password", tokCarolPW))), "read")
	if c.Subject != "carol" {
		t.Errorf("sub: got %q, want %q", c.Subject, "carol")
	}
	// Too long: refused before the store.
	users.lookups.Store(0)
	rec := f.do(tokRequest(form("grant_type", "password", "username", strings.Repeat("a", MaxAccountNameLen+1), "password", "x")))
	checkTokResponse(t, rec, 400, tokErrorHeaders(), tokErrBody("invalid_request", "username or client_id too long"))
	if n := users.lookups.Load(); n != 0 {
		t.Errorf("store lookups for an over-long username: %d, want 0", n)
	}
	// At the bound: accepted as input, and its limiter keys are as short as any.
	rec2 := &tokKeyRecorder{}
	f.e.limiter = rec2
	f.do(tokRequest(form("grant_type", "password", "username", strings.Repeat("a", MaxAccountNameLen), "password", "x")))
	f.do(tokRequest(form("grant_type", "password", "username", "a", "password", "x")))
	if len(rec2.fails) != 2 || len(rec2.fails[0]) != len(rec2.fails[1]) || len(rec2.fails[0]) > 40 {
		t.Errorf("limiter keys: got %q, want two short keys of one length", rec2.fails)
	}
}

// TestTokenThrottlingHidesAccounts: on a store that folds case and trims,
// spellings of an unknown name share one throttling bucket as spellings of a
// real account do, so a 429 after the threshold tells nothing about which
// names exist.
func TestTokenThrottlingHidesAccounts(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alice", "mallory"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
				c.Users = &foldingUsers{tokUsers: c.Users.(*tokUsers)}
			})
			upper := strings.ToUpper(name)
			for _, spelling := range []string{upper[:1] + name[1:], upper, " " + name} {
				checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", spelling, "password", "wrong"))), 400, tokErrorHeaders(), tokBadLogin)
			}
			h, b := tokThrottled("1")
			checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", name, "password", "wrong"))), 429, h, b)
		})
	}
}

// TestTokenEveryFailureCostsOneHash: every failing path of password and
// client authentication does exactly one password verification, so the time
// of the answer tells nothing about the account.
func TestTokenEveryFailureCostsOneHash(t *testing.T) {
	t.Parallel()
	cc := func(mods ...func(*http.Request)) *http.Request {
		return tokRequest(form("grant_type", "client_credentials"), mods...)
	}
	pw := func(user, pass string) *http.Request {
		return tokRequest(form("grant_type", "password", "username", user, "password", pass))
	}
	cases := []struct {
		name   string
		mod    func(*TokenEndpointConfig)
		req    *http.Request
		status int
	}{
		{"unknown user", nil, pw("mallory", "x"), 400},
		{"wrong password", nil, pw("alice", "x"), 400},
		{"disabled user, right password", nil, pw("bob", tokBobPW), 400},
		{"user without a password (SSO only)", nil, pw("sso", "x"), 400},
		{"user without a password, empty-looking guess", nil, pw("sso", " "), 400},
		{"malformed stored hash", nil, pw("broken", "x"), 400},
		{"unsupported bcrypt cost", nil, pw("cost32", "x"), 400},
		{"legacy bcrypt hash, 73-byte password", nil, pw("carol", strings.Repeat("p", 73)), 400},
		{"unknown client", nil, cc(withBasic("ghost", "x")), 401},
		{"wrong client secret", nil, cc(withBasic(tokSvcID, "x")), 401},
		{"disabled client", nil, cc(withBasic("off", tokWebPW)), 401},
		{"confidential client without secret", nil, tokRequest(form("grant_type", "client_credentials", "client_id", tokSvcID)), 400},
		{"public client presenting a secret", nil, tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withBasic("spa", "x")), 401},
		{"secret with no ClientStore", func(c *TokenEndpointConfig) { c.Clients = nil }, tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withBasic("spa", "x")), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, func(cfg *TokenEndpointConfig) {
				addHardeningAccounts(cfg)
				if c.mod != nil {
					c.mod(cfg)
				}
			})
			rec := f.do(c.req)
			if rec.Code != c.status {
				t.Errorf("status: got %d, want %d (body %q)", rec.Code, c.status, rec.Body.String())
			}
			if got := f.count.counts(); got[0] != 0 || got[1]+got[2] != 1 {
				t.Errorf("hashing work: got [Hash Verify VerifyDummy] %v, want exactly one verification", got)
			}
			// And that verification ran one key derivation, whatever made it fail.
			if runs := f.kdf(); runs != 1 {
				t.Errorf("key-derivation runs: got %v, want 1", runs)
			}
		})
	}
}

// addHardeningAccounts adds accounts whose stored data is unusual: no
// password, a malformed hash, an unsupported cost; and a public client.
func addHardeningAccounts(cfg *TokenEndpointConfig) {
	users := cfg.Users.(*tokUsers)
	users.users["sso"] = User{Roles: []string{"user"}}
	users.users["broken"] = User{PasswordHash: "$2a$10$short"}
	users.users["cost32"] = User{PasswordHash: guard.Secret("$2b$32$" + strings.Repeat("a", 53))}
	if cl, ok := cfg.Clients.(tokClients); ok {
		cl["spa"] = Client{Public: true, Grants: []string{"password"}, Scopes: []string{"read"}}
		cl["spa-off"] = Client{Public: true, Grants: []string{"password"}, Disabled: true}
		cl["spa-cc"] = Client{Public: true, Grants: []string{"password", "client_credentials"}, Scopes: []string{"read"}}
	}
}

// TestTokenCorruptHashLogged: a stored hash that cannot be read answers like
// a wrong password but logs its own line, without the hash.
func TestTokenCorruptHashLogged(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, addHardeningAccounts)
	for _, user := range []string{"broken", "cost32", "sso", "alice"} {
		checkTokResponse(t, f.do(tokRequest(form("grant_type", "password", "username", user, "password", "wrong"))), 400, tokErrorHeaders(), tokBadLogin)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, `"msg":"stored hash unreadable"`); n != 2 {
		t.Errorf("unreadable-hash lines: got %d, want 2 (broken, cost32):\n%s", n, logs)
	}
	for _, want := range []string{`"username":"broken","kind":"malformed"`, `"username":"cost32"`, `"reason":"no password"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"$2a$10$short", strings.Repeat("a", 53)} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains the stored hash %q", secret)
		}
	}
}

// TestTokenNoLockout: an attacker who guesses each time the waits end, from
// his own address and from ever new ones, for 24 hours, does not keep the
// real user from logging in from an address she used before.
func TestTokenNoLockout(t *testing.T) {
	t.Parallel()
	var clock *tokClock
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		clock = &tokClock{t: tokNow}
		// The defaults, on the test clock.
		c.Limiter = MustNewMemoryLimiter(MemoryLimiterConfig{Now: clock.Now})
		c.IPLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 20, Now: clock.Now})
		c.AccountLimiter = MustNewMemoryLimiter(MemoryLimiterConfig{Threshold: 50, Now: clock.Now})
	})
	// The policy is under test, not hashing: a stand-in hasher keeps the
	// ~100 verifications of this day fast, under -race too.
	f.e.hasher = tokPlainHasher{}
	f.users.users["alice"] = User{Subject: "user-1", PasswordHash: "plain:" + tokAlicePW, Scopes: []string{"read", "write"}}
	home := withRemote("192.0.2.10:1")
	login := func() *httptest.ResponseRecorder {
		return f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), home))
	}
	f.checkTokSuccess(t, login(), "read write")
	attacker := 0
	guess := func(remote string) {
		f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", "guess"), withRemote(remote)))
	}
	ok := 0
	for hour := range 24 {
		for range 4 { // every 15 minutes: the longest wait is over
			guess("203.0.113.66:1")
			for range 3 {
				attacker++
				guess("198.18." + strconv.Itoa(attacker/250) + "." + strconv.Itoa(attacker%250+1) + ":1")
			}
			clock.Add(15 * time.Minute)
		}
		if rec := login(); rec.Code == http.StatusOK {
			ok++
		} else {
			t.Logf("hour %d: %d %s", hour, rec.Code, rec.Body.String())
		}
	}
	if ok != 24 {
		t.Errorf("the user's hourly logins: %d/24 succeeded, want 24", ok)
	}
	// The attacker is throttled all along: once a wait is over, one guess
	// from a new address starts the next, and another new address gets 429.
	guess("198.18.200.1:1")
	rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withRemote("198.18.200.2:1")))
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("a new address during the attack: got %d, want 429", rec.Code)
	}
}

// TestTokenPasswordGrantClients: with a ClientStore, the password grant needs
// a registered client and gets that client's rules; public clients identify
// themselves without a secret, as requests-oauthlib does.
func TestTokenPasswordGrantClients(t *testing.T) {
	t.Parallel()
	pw := func(extra ...string) string {
		return form(append([]string{"grant_type", "password", "username", "alice", "password", tokAlicePW}, extra...)...)
	}
	strict := func(c *TokenEndpointConfig) {
		addHardeningAccounts(c)
		c.DangerouslyAllowPasswordGrantWithoutClient = false
	}
	invClient := tokErrBody("invalid_client", "client authentication failed")
	cases := []struct {
		name   string
		mod    func(*TokenEndpointConfig)
		req    *http.Request
		status int
		hdr    http.Header
		body   string // for errors
		scope  string // for successes: the response's scope member
		client string // for successes: the token's client_id
	}{
		{"no client: refused", strict, tokRequest(pw()), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), invClient, "", ""},
		{"no client, scope beyond any client's: refused", strict, tokRequest(pw("scope", "read write")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), invClient, "", ""},
		{"public client by client_id: its scopes", strict, tokRequest(pw("client_id", "spa")), 200, nil, "", "read", "spa"},
		{"public client in Basic with an empty secret", strict, tokRequest(pw(), withBasic("spa", "")), 200, nil, "", "read", "spa"},
		{"public client asks beyond its scopes", strict, tokRequest(pw("client_id", "spa", "scope", "write")), 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed"), "", ""},
		{"public client presenting a secret", strict, tokRequest(pw(), withBasic("spa", "guess")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), invClient, "", ""},
		{"disabled public client", strict, tokRequest(pw("client_id", "spa-off")), 400, tokErrorHeaders(), invClient, "", ""},
		{"public client cannot use client_credentials", strict, tokRequest(form("grant_type", "client_credentials", "client_id", "spa-cc")), 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed this grant"), "", ""},
		{"unknown client_id", strict, tokRequest(pw("client_id", "ghost")), 400, tokErrorHeaders(), invClient, "", ""},
		{"confidential client without its secret", strict, tokRequest(pw(), withBasic(tokWebID, "")), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), invClient, "", ""},
		{"confidential client with its secret", strict, tokRequest(pw(), withBasic(tokWebID, tokWebPW)), 200, nil, "", "read", tokWebID},
		{"client not allowed the password grant", strict, tokRequest(pw(), withBasic(tokSvcID, tokSvcPW)), 400, tokErrorHeaders(), tokErrBody("unauthorized_client", "client not allowed this grant"), "", ""},
		{"disabled confidential client", strict, tokRequest(pw(), withBasic("off", tokWebPW)), 401, tokErrorHeaders("WWW-Authenticate", tokBasicChallenge), invClient, "", ""},
		{"dangerous option: no client, the user's scopes", func(c *TokenEndpointConfig) { addHardeningAccounts(c) }, tokRequest(pw()), 200, nil, "", "read write", ""},
		// FastAPI clients unchanged: requests-oauthlib's LegacyApplicationClient
		// names a client_id nobody registered, with no secret.
		{"dangerous option: an unregistered client_id without a secret names no client", func(c *TokenEndpointConfig) { addHardeningAccounts(c) },
			tokRequest(pw("client_id", "anything")), 200, nil, "", "read write", ""},
		{"dangerous option: an unregistered client in Basic with an empty secret names no client", func(c *TokenEndpointConfig) { addHardeningAccounts(c) },
			tokRequest(pw(), withBasic("anything", "")), 200, nil, "", "read write", ""},
		{"dangerous option: an unregistered client with a secret is refused", func(c *TokenEndpointConfig) { addHardeningAccounts(c) },
			tokRequest(pw("client_id", "anything", "client_secret", "x")), 400, tokErrorHeaders(), invClient, "", ""},
		{"dangerous option: a registered confidential client keeps its rules", func(c *TokenEndpointConfig) { addHardeningAccounts(c) },
			tokRequest(pw("client_id", tokWebID)), 400, tokErrorHeaders(), invClient, "", ""},
		{"dangerous option: client_credentials still needs a registered client", func(c *TokenEndpointConfig) { addHardeningAccounts(c) },
			tokRequest(form("grant_type", "client_credentials", "client_id", "anything")), 400, tokErrorHeaders(), invClient, "", ""},
		{"no ClientStore: a client naming itself in Basic is accepted", func(c *TokenEndpointConfig) { c.Clients = nil },
			tokRequest(pw(), withBasic("demo-app", "")), 200, nil, "", "read write", ""},
		{"no ClientStore: a client_id in the form is accepted", func(c *TokenEndpointConfig) { c.Clients = nil },
			tokRequest(pw("client_id", "demo-app")), 200, nil, "", "read write", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTokFixture(t, guard.PasswordHasherConfig{}, c.mod)
			rec := f.do(c.req)
			if c.status != 200 {
				checkTokResponse(t, rec, c.status, c.hdr, c.body)
				return
			}
			claims := f.checkTokSuccess(t, rec, c.scope)
			if claims.ClientID != c.client {
				t.Errorf("client_id claim: got %q, want %q", claims.ClientID, c.client)
			}
		})
	}
}

// TestTokenInferPasswordGrant: FastAPI clients omit grant_type.
func TestTokenInferPasswordGrant(t *testing.T) {
	t.Parallel()
	on := func(c *TokenEndpointConfig) { c.InferPasswordGrant = true }
	noGrant := tokErrBody("invalid_request", "grant_type required")
	f := newTokFixture(t, guard.PasswordHasherConfig{}, on)
	f.checkTokSuccess(t, f.do(tokRequest(form("username", "alice", "password", tokAlicePW))), "read write")
	checkTokResponse(t, f.do(tokRequest(form("username", "alice", "password", "wrong"))), 400, tokErrorHeaders(), tokBadLogin)
	checkTokResponse(t, f.do(tokRequest(form("username", "alice"))), 400, tokErrorHeaders(), noGrant)
	off := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	checkTokResponse(t, off.do(tokRequest(form("username", "alice", "password", tokAlicePW))), 400, tokErrorHeaders(), noGrant)
	_, err := NewTokenEndpoint(TokenEndpointConfig{Issuer: off.e.cfg.Issuer, Hasher: off.hasher, InferPasswordGrant: true})
	if err == nil || !strings.Contains(err.Error(), "InferPasswordGrant needs EnablePasswordGrant") {
		t.Errorf("InferPasswordGrant without the grant: got %v", err)
	}
}

// TestTokenProxyWarning: behind a proxy on the same host with no
// TrustedProxies, one warning says so.
func TestTokenProxyWarning(t *testing.T) {
	t.Parallel()
	local := func(extra ...func(*http.Request)) *http.Request {
		return tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong"),
			append([]func(*http.Request){plainHTTP, withRemote("127.0.0.1:5000")}, extra...)...)
	}
	const line = `TrustedProxies is empty`
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	f.do(local())
	if strings.Contains(f.logs.String(), line) {
		t.Error("warning without forwarding headers")
	}
	for range 3 {
		f.do(local(withHeader("X-Forwarded-For", "203.0.113.5")))
	}
	if n := strings.Count(f.logs.String(), line); n != 1 {
		t.Errorf("warnings: got %d, want 1:\n%s", n, f.logs.String())
	}
	g := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	g.do(local(withHeader("X-Forwarded-For", "203.0.113.5"), withHeader("X-Forwarded-Proto", "https")))
	if strings.Contains(g.logs.String(), line) {
		t.Error("warning with TrustedProxies set")
	}
}

// tokFailingLimiter fails every call, as a limiter on a store that is down.
type tokFailingLimiter struct{}

func (tokFailingLimiter) Reserve(context.Context, string) (Reservation, error) {
	return Reservation{}, errTokStoreDown
}
func (tokFailingLimiter) Refund(context.Context, string) error  { return errTokStoreDown }
func (tokFailingLimiter) Succeed(context.Context, string) error { return errTokStoreDown }

// TestTokenLimiterDown: a failing limiter closes the door with 503.
func TestTokenLimiterDown(t *testing.T) {
	t.Parallel()
	for _, which := range []string{"Limiter", "IPLimiter", "AccountLimiter"} {
		t.Run(which, func(t *testing.T) {
			t.Parallel()
			var seen error
			f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
				switch which {
				case "Limiter":
					c.Limiter = tokFailingLimiter{}
				case "IPLimiter":
					c.IPLimiter = tokFailingLimiter{}
				default:
					c.AccountLimiter = tokFailingLimiter{}
				}
				c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, err error) { seen = err; guard.WriteError(w, r, err) }
			})
			for _, r := range []*http.Request{
				tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)),
				tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)),
			} {
				checkTokResponse(t, f.do(r), 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later"))
				if !errors.Is(seen, errTokStoreDown) {
					t.Errorf("ErrorWriter got %v, want the limiter's error as the cause", seen)
				}
			}
			if got := f.count.counts(); got != [3]int32{} {
				t.Errorf("hashing with the limiter down: %v", got)
			}
		})
	}
}

// TestTokenZeroValue: a TokenEndpoint not made by NewTokenEndpoint fails
// closed, without a panic.
func TestTokenZeroValue(t *testing.T) {
	t.Parallel()
	var e TokenEndpoint
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, tokRequest(form("grant_type", "password", "username", "alice", "password", "x")))
	checkTokResponse(t, rec, 500, tokErrorHeaders(), tokErrBody("server_error", ""))
}

// TestTokenLimiterKeys: the three counters of one attempt, and what each
// outcome does to them.
func TestTokenLimiterKeys(t *testing.T) {
	t.Parallel()
	pair, ip, acct := &tokKeyRecorder{}, &tokKeyRecorder{}, &tokKeyRecorder{}
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		c.Limiter, c.IPLimiter, c.AccountLimiter = pair, ip, acct
	})
	f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong"), withRemote("198.51.100.7:1")))
	want := [][]string{{limiterKey("user-ip:", "alice", "198.51.100.7")}, {limiterKey("ip:", "198.51.100.7")}, {limiterKey("user:", "alice")}}
	for i, got := range [][]string{pair.fails, ip.fails, acct.fails} {
		if !slices.Equal(got, want[i]) {
			t.Errorf("counter %d: got %q, want %q", i, got, want[i])
		}
	}
	for _, k := range slices.Concat(want...) {
		if strings.Contains(k, "alice") || strings.Contains(k, "198.51") {
			t.Errorf("key %q holds its input in clear", k)
		}
	}
}

// tokPlainHasher stands in for the PasswordHasher where hashing cost is not
// under test: "plain:" + password is the stored form.
type tokPlainHasher struct{}

func (tokPlainHasher) Hash(_ context.Context, pw string) (guard.Secret, error) {
	return guard.Secret("plain:" + pw), nil
}
func (tokPlainHasher) Verify(_ context.Context, pw string, enc guard.Secret) (bool, error) {
	if string(enc) != "plain:"+pw {
		return false, guard.ErrPasswordMismatch
	}
	return false, nil
}
func (tokPlainHasher) VerifyDummy(context.Context, string) error { return guard.ErrPasswordMismatch }
