package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// refFixture is the token endpoint fixture with refresh tokens on, a
// revocation store, and the client "app" (public; password and
// refresh_token; read write) besides the fixture's.
type refFixture struct {
	*tokFixture
	clock *tokClock
	revs  *guard.MemoryRevocations
	store *MemoryRefreshStore
	// pending carries a token from a table row's request to its check.
	pending string
}

func newRefFixture(t testing.TB, mod func(*TokenEndpointConfig)) *refFixture {
	t.Helper()
	clock := &tokClock{t: tokNow}
	revs := guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{Now: clock.Now})
	store := MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(c *TokenEndpointConfig) {
		clients := tokClients{
			"app":   {Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}},
			"other": {Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}},
		}
		for id, cl := range c.Clients.(tokClients) {
			clients[id] = cl
		}
		c.Clients = clients
		c.Refresh = &RefreshConfig{Store: store, Lifetime: 24 * time.Hour, IdleTimeout: time.Hour}
		c.Revocations = revs
		c.Now = clock.Now
		if mod != nil {
			mod(c)
		}
	})
	return &refFixture{tokFixture: f, clock: clock, revs: revs, store: store}
}

type tokBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func decodeTok(t testing.TB, rec *httptest.ResponseRecorder) tokBody {
	t.Helper()
	var b tokBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return b
}

// login starts a session for alice through client (empty: none) as a
// password login would, without the password hash (slow under -race), and
// returns its refresh token. A "scope" pair in extra narrows the grant.
func (f *refFixture) login(t testing.TB, client string, extra ...string) string {
	t.Helper()
	scopes := []string{"read", "write"}
	if len(extra) == 2 && extra[0] == "scope" {
		scopes = strings.Split(extra[1], " ")
	}
	rt, err := f.e.startRefreshFamily(context.Background(), client, "alice", "user-1", scopes, IssuedToken{})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// loginPassword logs alice in with the password grant and returns the refresh token.
func (f *refFixture) loginPassword(t testing.TB, client string) string {
	t.Helper()
	kv := []string{"grant_type", "password", "username", "alice", "password", tokAlicePW}
	if client != "" {
		kv = append(kv, "client_id", client)
	}
	rec := f.do(tokRequest(form(kv...)))
	if rec.Code != http.StatusOK {
		t.Fatalf("login: got %d %s", rec.Code, rec.Body.String())
	}
	b := decodeTok(t, rec)
	if len(b.RefreshToken) != refreshTokenLen {
		t.Fatalf("login: refresh_token %q, want %d characters", b.RefreshToken, refreshTokenLen)
	}
	return b.RefreshToken
}

func (f *refFixture) refresh(token, client string, extra ...string) *httptest.ResponseRecorder {
	kv := append([]string{"grant_type", "refresh_token", "refresh_token", token}, extra...)
	if client != "" {
		kv = append(kv, "client_id", client)
	}
	return f.do(tokRequest(form(kv...)))
}

var errInvalidRefresh = tokErrBody("invalid_grant", "invalid refresh token")

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	rt1 := f.loginPassword(t, "app")
	rec := f.refresh(rt1, "app")
	c := f.checkRefreshSuccess(t, rec, "read write")
	if c.Subject != "user-1" || c.ClientID != "app" || !slices.Equal(c.Roles, []string{"admin"}) {
		t.Errorf("claims: got %+v", c)
	}
	rt2 := decodeTok(t, rec).RefreshToken
	if rt2 == rt1 || len(rt2) != refreshTokenLen {
		t.Fatalf("rotation: got %q after %q", rt2, rt1)
	}
	// rt1 again, past the grace window: reuse, the family is revoked, and
	// rt2 dies with it.
	f.clock.Add(DefaultRefreshGraceWindow)
	rec = f.refresh(rt1, "app")
	checkTokResponse(t, rec, http.StatusBadRequest, tokErrorHeaders(), errInvalidRefresh)
	rec = f.refresh(rt2, "app")
	checkTokResponse(t, rec, http.StatusBadRequest, tokErrorHeaders(), errInvalidRefresh)
	if !strings.Contains(f.logs.String(), "refresh token reused") {
		t.Errorf("reuse not logged: %s", f.logs)
	}
	if strings.Contains(f.logs.String(), rt1) || strings.Contains(f.logs.String(), rt2) {
		t.Errorf("a refresh token reached the log")
	}
}

// checkRefreshSuccess checks a 200 with a refresh token and returns the claims.
func (f *refFixture) checkRefreshSuccess(t *testing.T, rec *httptest.ResponseRecorder, scope string) *guard.Claims {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %q)", rec.Code, rec.Body.String())
	}
	b := decodeTok(t, rec)
	c, err := f.verifier.Verify(context.Background(), b.AccessToken)
	if err != nil {
		t.Fatalf("access_token does not verify: %v", err)
	}
	want := `{"access_token":"` + b.AccessToken + `","token_type":"Bearer","expires_in":600,"refresh_token":"` + b.RefreshToken + `"`
	if scope != "" {
		want += `,"scope":"` + scope + `"`
	}
	if got := rec.Body.String(); got != want+"}\n" {
		t.Errorf("body: got %q, want %q", got, want+"}\n")
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q", got)
	}
	return c
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	bad := tokErrorHeaders()
	cases := []struct {
		name   string
		setup  func() *http.Request
		status int
		hdr    http.Header
		body   string
		err    []error
	}{
		{"missing refresh_token", func() *http.Request { return tokRequest(form("grant_type", "refresh_token", "client_id", "app")) },
			400, bad, tokErrBody("invalid_request", "refresh_token required"), []error{guard.ErrInvalidRequest}},
		{"empty refresh_token", func() *http.Request { return tokRequest("grant_type=refresh_token&client_id=app&refresh_token=") },
			400, bad, tokErrBody("invalid_request", "empty parameter"), []error{guard.ErrInvalidRequest}},
		{"1 MiB refresh_token: body cap", func() *http.Request {
			return tokRequest(form("grant_type", "refresh_token", "client_id", "app", "refresh_token", strings.Repeat("A", 1<<20)))
		}, 413, bad, tokErrBody("invalid_request", "request body too large"), []error{guard.ErrInvalidRequest}},
		{"not base64url", func() *http.Request { return f.refreshReq(strings.Repeat("!", refreshTokenLen), "app") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"padded base64", func() *http.Request { return f.refreshReq(strings.Repeat("A", 42)+"=", "app") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"wrong length", func() *http.Request { return f.refreshReq(strings.Repeat("A", 44), "app") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"unknown token", func() *http.Request { return f.refreshReq(newRefreshToken(nil).raw, "app") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"another client's token", func() *http.Request { return f.refreshReq(f.login(t, "app"), "other") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"a client's token without the client", func() *http.Request { return f.refreshReq(f.login(t, "app"), "") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"client not allowed refresh_token", func() *http.Request {
			return tokRequest(form("grant_type", "refresh_token", "refresh_token", f.login(t, ""), "client_id", tokWebID, "client_secret", tokWebPW))
		}, 400, bad, tokErrBody("unauthorized_client", "client not allowed this grant"), []error{guard.ErrUnauthorizedClient}},
		{"wrong client secret", func() *http.Request {
			return tokRequest(form("grant_type", "refresh_token", "refresh_token", f.login(t, ""), "client_id", tokWebID, "client_secret", "nope"))
		}, 400, bad, tokErrBody("invalid_client", "client authentication failed"), []error{guard.ErrInvalidClient}},
		{"scope widened", func() *http.Request {
			return f.refreshReq(f.login(t, "app", "scope", "read"), "app", "scope", "read write")
		},
			400, bad, tokErrBody("invalid_scope", "requested scope not allowed"), []error{guard.ErrInvalidScope}},
		{"absolute lifetime over", func() *http.Request {
			rt := f.login(t, "")
			for range 25 { // refreshed every hour, never idle, until the day is over
				f.clock.Add(time.Hour - time.Second)
				rec := f.refresh(rt, "")
				if rec.Code != 200 {
					return f.refreshReq(rt, "")
				}
				rt = decodeTok(t, rec).RefreshToken
			}
			t.Fatal("a family outlived its absolute lifetime")
			return nil
		}, 400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"idle lifetime over", func() *http.Request { rt := f.login(t, ""); f.clock.Add(time.Hour); return f.refreshReq(rt, "") },
			400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"subject revoked after login", func() *http.Request {
			rt := f.login(t, "")
			if err := f.revs.RevokeSubject(context.Background(), "user-1", f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Second) // a later login is not covered
			return f.refreshReq(rt, "")
		}, 400, bad, errInvalidRefresh, []error{guard.ErrInvalidGrant}},
		{"query string credentials", func() *http.Request {
			return tokRequest(form("grant_type", "refresh_token", "client_id", "app"), func(r *http.Request) { r.URL.RawQuery = "refresh_token=x" })
		}, 400, bad, tokErrBody("invalid_request", "credentials in the query string"), []error{guard.ErrInvalidRequest}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got error
			f.e.cfg.ErrorWriter = func(w http.ResponseWriter, r *http.Request, err error) { got = err; guard.WriteError(w, r, err) }
			f.e.writeError = f.e.cfg.ErrorWriter
			rec := f.do(c.setup())
			checkTokResponse(t, rec, c.status, c.hdr, c.body)
			for _, want := range c.err {
				if !errors.Is(got, want) {
					t.Errorf("error %v: does not match %v", got, want)
				}
			}
		})
	}
}

func (f *refFixture) refreshReq(token, client string, extra ...string) *http.Request {
	kv := append([]string{"grant_type", "refresh_token", "refresh_token", token}, extra...)
	if client != "" {
		kv = append(kv, "client_id", client)
	}
	return tokRequest(form(kv...))
}

func TestRefreshRereadsUser(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	rt := f.login(t, "app")
	// Narrowing works, and the family keeps its bound.
	rec := f.refresh(rt, "app", "scope", "read")
	c := f.checkRefreshSuccess(t, rec, "")
	if !slices.Equal(c.Scopes, []string{"read"}) {
		t.Errorf("narrowed scopes: got %v", c.Scopes)
	}
	rt = decodeTok(t, rec).RefreshToken
	// Roles changed and write taken away: both take effect.
	f.users.mu.Lock()
	u := f.users.users["alice"]
	u.Roles, u.Scopes = []string{"user"}, []string{"read"}
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	rec = f.refresh(rt, "app")
	c = f.checkRefreshSuccess(t, rec, "read")
	if !slices.Equal(c.Roles, []string{"user"}) || !slices.Equal(c.Scopes, []string{"read"}) {
		t.Errorf("after the change: roles %v scopes %v", c.Roles, c.Scopes)
	}
	rt = decodeTok(t, rec).RefreshToken
	// Disabled: refused, and the family is gone even once re-enabled.
	f.users.mu.Lock()
	u.Disabled = true
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
	f.users.mu.Lock()
	u.Disabled = false
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
	if n := f.store.Len(); n != 0 {
		t.Errorf("families left: %d, want 0", n)
	}
}

// TestRefreshConcurrentReplay: 24 concurrent refreshes of one token make
// exactly one rotation. Without grace, exactly one wins and the others are
// reuse, which ends the family; with the default grace, the others are
// retries and get the winner's successor, which works.
func TestRefreshConcurrentReplay(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		grace time.Duration
	}{{"no grace", -1}, {"default: retry window for an unknown outcome only", 0}, {"grace window", 10 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newRefFixture(t, func(cfg *TokenEndpointConfig) { cfg.Refresh.GraceWindow = c.grace })
			rt := f.login(t, "app")
			var wg sync.WaitGroup
			codes := make([]int, 24)
			winners := make([]string, 24)
			for i := range codes {
				wg.Go(func() {
					rec := f.refresh(rt, "app")
					codes[i] = rec.Code
					if rec.Code == 200 {
						winners[i] = decodeTok(t, rec).RefreshToken
					}
				})
			}
			wg.Wait()
			won := map[string]int{}
			for i, c := range codes {
				switch c {
				case 200:
					won[winners[i]]++
				case 400:
				default:
					t.Errorf("status %d", c)
				}
			}
			if len(won) != 1 {
				t.Fatalf("successors: got %d, want exactly 1 (%v)", len(won), won)
			}
			for successor, n := range won {
				if c.grace < 0 {
					if n != 1 {
						t.Errorf("answers 200: got %d, want exactly 1", n)
					}
					checkTokResponse(t, f.refresh(successor, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
					continue
				}
				if c.grace == 0 {
					// The winner's answer closes the window: requests that
					// reached the store before it are retries (the same
					// successor), the rest are reuse, which ends the family.
					if n < 24 {
						checkTokResponse(t, f.refresh(successor, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
					} else {
						f.checkRefreshSuccess(t, f.refresh(successor, "app"), "read write")
					}
					continue
				}
				if n != 24 {
					t.Errorf("answers 200: got %d, want all 24, with one successor", n)
				}
				f.checkRefreshSuccess(t, f.refresh(successor, "app"), "read write")
			}
		})
	}
}

func TestRefreshGraceWindow(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, func(c *TokenEndpointConfig) { c.Refresh.GraceWindow = 10 * time.Second })
	rt := f.login(t, "app")
	first := f.refresh(rt, "app")
	f.checkRefreshSuccess(t, first, "read write")
	f.clock.Add(9 * time.Second)
	retry := f.refresh(rt, "app") // the first response was lost
	f.checkRefreshSuccess(t, retry, "read write")
	if a, b := decodeTok(t, first).RefreshToken, decodeTok(t, retry).RefreshToken; a != b {
		t.Fatalf("retry within the window: successor %q, then %q; want the same", a, b)
	}
	// Past the window the same replay is reuse: the family ends.
	f.clock.Add(2 * time.Second)
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
	checkTokResponse(t, f.refresh(decodeTok(t, first).RefreshToken, "app"), 400, tokErrorHeaders(), errInvalidRefresh)

	// After the successor is used, the grandparent is reuse even within a window.
	rt = f.login(t, "app")
	next := decodeTok(t, f.refresh(rt, "app")).RefreshToken
	f.checkRefreshSuccess(t, f.refresh(next, "app"), "read write")
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
}

func TestRefreshIssuedOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	// web's Grants lack refresh_token: no refresh token for its logins.
	rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW), withBasic(tokWebID, tokWebPW)))
	if b := decodeTok(t, rec); rec.Code != 200 || b.RefreshToken != "" {
		t.Errorf("web login: got %d, refresh_token %q; want 200 and none", rec.Code, b.RefreshToken)
	}
	// client_credentials never gets one.
	rec = f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)))
	if b := decodeTok(t, rec); rec.Code != 200 || b.RefreshToken != "" {
		t.Errorf("client_credentials: got %d, refresh_token %q; want 200 and none", rec.Code, b.RefreshToken)
	}
	// Without Refresh, grant_type=refresh_token is unsupported.
	g := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	checkTokResponse(t, g.do(tokRequest(form("grant_type", "refresh_token", "refresh_token", newRefreshToken(nil).raw))),
		400, tokErrorHeaders(), tokErrBody("unsupported_grant_type", "grant type not supported"))
}

func TestRefreshConfigValidation(t *testing.T) {
	t.Parallel()
	key, _ := guard.NewHMACKey(guard.HS256, []byte(tokHMACKey), "")
	iss, _ := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	h, _ := guard.NewPasswordHasher(guard.PasswordHasherConfig{})
	ver, _ := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}})
	cases := []struct {
		name string
		cfg  TokenEndpointConfig
		want []string
	}{
		{"no store, no password grant", TokenEndpointConfig{Refresh: &RefreshConfig{}},
			[]string{"RefreshConfig.Store is nil", "Refresh needs EnablePasswordGrant"}},
		{"bad durations", TokenEndpointConfig{Users: &tokUsers{}, EnablePasswordGrant: true, Refresh: &RefreshConfig{Store: MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{}),
			Lifetime: time.Hour, IdleTimeout: 2 * time.Hour, GraceWindow: 2 * time.Minute}},
			[]string{"GraceWindow 2m0s is over 1m0s", "IdleTimeout 2h0m0s is longer than Lifetime 1h0m0s"}},
		{"negative", TokenEndpointConfig{Users: &tokUsers{}, EnablePasswordGrant: true, Refresh: &RefreshConfig{Store: MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{}), Lifetime: -1}},
			[]string{"must not be negative"}},
		{"verifier without revocations", TokenEndpointConfig{AccessTokenVerifier: ver}, []string{"AccessTokenVerifier needs Revocations"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Issuer, c.cfg.Hasher = iss, h
			_, err := NewTokenEndpoint(c.cfg)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRefreshStoreDown(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, func(c *TokenEndpointConfig) { c.Refresh.Store = tokFailingRefresh{} })
	rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "client_id", "app")))
	checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later"))
	rec = f.refresh(newRefreshToken(nil).raw, "app")
	checkTokResponse(t, rec, 503, tokErrorHeaders("Retry-After", "5"), tokErrBody("temporarily_unavailable", "service unavailable; retry later"))
}

type tokFailingRefresh struct{}

func (tokFailingRefresh) CreateRefreshFamily(context.Context, RefreshFamily, [32]byte, time.Time) error {
	return errTokStoreDown
}
func (tokFailingRefresh) RotateRefreshToken(context.Context, RefreshRotation) (RefreshFamily, []byte, error) {
	return RefreshFamily{}, nil, errTokStoreDown
}
func (tokFailingRefresh) RevokeRefreshFamily(context.Context, string, string) (RefreshFamily, error) {
	return RefreshFamily{}, errTokStoreDown
}
func (tokFailingRefresh) SettleRefreshToken(context.Context, string, [32]byte) error {
	return errTokStoreDown
}
func (tokFailingRefresh) RevokeSubjectRefreshFamilies(context.Context, string) (int, error) {
	return 0, errTokStoreDown
}
func (tokFailingRefresh) LookupRefreshToken(context.Context, string, [32]byte, time.Time) (RefreshFamily, time.Time, error) {
	return RefreshFamily{}, time.Time{}, errTokStoreDown
}

func TestRefreshTokenFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok := newRefreshToken(nil)
		if seen[tok.raw] || len(tok.raw) != refreshTokenLen {
			t.Fatalf("token %q: duplicate or wrong length", tok.raw)
		}
		seen[tok.raw] = true
		next := newRefreshToken(tok.seed())
		if next.family != tok.family || next.raw == tok.raw {
			t.Fatalf("successor of %q: %q, family %q vs %q", tok.raw, next.raw, next.family, tok.family)
		}
		if p, ok := parseRefreshToken(tok.raw); !ok || p != tok {
			t.Fatalf("parse(%q) = %+v, %v", tok.raw, p, ok)
		}
		sealed := sealSuccessor(tok.raw, next.raw)
		if got, ok := openSuccessor(tok.raw, sealed); !ok || got != next.raw {
			t.Fatalf("sealed successor does not open")
		}
		if _, ok := openSuccessor(next.raw, sealed); ok {
			t.Fatalf("sealed successor opens with another token")
		}
	}
}

func TestMemoryRefreshStoreConfigErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewMemoryRefreshStore(MemoryRefreshStoreConfig{MaxFamilies: -1}); err == nil ||
		!strings.Contains(err.Error(), "MemoryRefreshStoreConfig.MaxFamilies is negative") {
		t.Errorf("negative MaxFamilies: got %v", err)
	}
	s, err := NewMemoryRefreshStore(MemoryRefreshStoreConfig{})
	if err != nil || s.max != 1_000_000 {
		t.Errorf("default MaxFamilies: got %v, %v", s, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNewMemoryRefreshStore did not panic on a bad config")
		}
	}()
	MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{MaxFamilies: -1})
}

// TestRefreshReplayAfterAnswerIsReuse: with the default config, a refresh
// token presented again after the endpoint answered its rotation is reuse
// at once (400, the family ends), as the wire contract says; only a
// rotation whose outcome the endpoint never learned can be retried
// (TestRefreshRedisPausedDuringRotation and the lost-rotation tests).
func TestRefreshReplayAfterAnswerIsReuse(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	rt := f.login(t, "app")
	rec := f.refresh(rt, "app")
	f.checkRefreshSuccess(t, rec, "read write")
	next := decodeTok(t, rec).RefreshToken
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
	checkTokResponse(t, f.refresh(next, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
}
