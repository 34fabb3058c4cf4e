package authserver

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

var errUnavailable = tokErrBody("temporarily_unavailable", "service unavailable; retry later")

// TestRefreshChecksBeforeRotation: a refresh refused by a check (scope), or
// failed by a dependency (user store, ExtraClaims), leaves the presented
// token current: without any grace window the client's next try with it
// works, where it used to be reuse that ended the family (issue 17, item 1).
func TestRefreshChecksBeforeRotation(t *testing.T) {
	t.Parallel()
	var extraFails atomic.Bool
	f := newRefFixture(t, func(c *TokenEndpointConfig) {
		c.Refresh.GraceWindow = -1
		c.ExtraClaims = func(context.Context, ClaimsRequest) (map[string]any, error) {
			if extraFails.Load() {
				return nil, errors.New("profile service down")
			}
			return nil, nil
		}
	})
	cases := []struct {
		name   string
		fault  func(on bool)
		extra  []string
		status int
		hdr    http.Header
		body   string
	}{
		{"invalid_scope", func(bool) {}, []string{"scope", "admin"}, 400, tokErrorHeaders(), tokErrBody("invalid_scope", "requested scope not allowed")},
		{"user store down", func(on bool) {
			f.users.mu.Lock()
			defer f.users.mu.Unlock()
			f.users.err = nil
			if on {
				f.users.err = errTokStoreDown
			}
		}, nil, 503, tokErrorHeaders("Retry-After", "5"), errUnavailable},
		{"ExtraClaims fails", func(on bool) { extraFails.Store(on) }, nil, 503, tokErrorHeaders("Retry-After", "5"), errUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := f.login(t, "app")
			c.fault(true)
			checkTokResponse(t, f.refresh(rt, "app", c.extra...), c.status, c.hdr, c.body)
			c.fault(false)
			f.checkRefreshSuccess(t, f.refresh(rt, "app"), "read write")
		})
	}
}

// lostRotation rotates, then reports a failure once when fail is set: a
// Redis script that ran after the client's timeout fired.
type lostRotation struct {
	*MemoryRefreshStore
	fail atomic.Bool
}

func (l *lostRotation) RotateRefreshToken(ctx context.Context, rot RefreshRotation) (RefreshFamily, []byte, error) {
	fam, sealed, err := l.MemoryRefreshStore.RotateRefreshToken(ctx, rot)
	if l.fail.CompareAndSwap(true, false) {
		return RefreshFamily{}, nil, errTokStoreDown
	}
	return fam, sealed, err
}

// TestRefreshStoreOutcomeUnknown: the rotation happened but the store
// answered an error: 503, and the retry within the default grace window
// gets the successor, which works (issue 17, item 1).
func TestRefreshStoreOutcomeUnknown(t *testing.T) {
	t.Parallel()
	store := &lostRotation{MemoryRefreshStore: MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})}
	f := newRefFixture(t, func(c *TokenEndpointConfig) { c.Refresh.Store = store })
	rt := f.login(t, "app")
	store.fail.Store(true)
	checkTokResponse(t, f.refresh(rt, "app"), 503, tokErrorHeaders("Retry-After", "5"), errUnavailable)
	f.clock.Add(DefaultRefreshGraceWindow - time.Second)
	rec := f.refresh(rt, "app")
	f.checkRefreshSuccess(t, rec, "read write")
	f.checkRefreshSuccess(t, f.refresh(decodeTok(t, rec).RefreshToken, "app"), "read write")
}

// TestRefreshEndRevokesAccessTokens: a reused refresh token revokes the
// access tokens issued on its family (the login's and the refreshes'), and
// so does revoking the refresh token at /revoke (RFC 9700 §4.14.2, RFC 7009
// §2.1; issue 17, item 6).
func TestRefreshEndRevokesAccessTokens(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"reuse", "revocation endpoint"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			f := newRevFixture(t, nil)
			ver := f.checking
			rec := f.do(tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW, "client_id", "app")))
			login := decodeTok(t, rec)
			rec = f.refresh(login.RefreshToken, "app")
			refreshed := decodeTok(t, rec)
			for _, at := range []string{login.AccessToken, refreshed.AccessToken} {
				if _, err := ver.Verify(context.Background(), at); err != nil {
					t.Fatalf("before: %v", err)
				}
			}
			if end == "reuse" {
				f.clock.Add(DefaultRefreshGraceWindow)
				checkTokResponse(t, f.refresh(login.RefreshToken, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
			} else {
				w := f.doRevoke(revRequest(form("token", refreshed.RefreshToken, "client_id", "app")))
				if w.Code != 200 {
					t.Fatalf("revoke: got %d %s", w.Code, w.Body)
				}
			}
			for i, at := range []string{login.AccessToken, refreshed.AccessToken} {
				if _, err := ver.Verify(context.Background(), at); !errors.Is(err, guard.ErrTokenRevoked) {
					t.Errorf("access token %d after the family ended: got %v, want ErrTokenRevoked", i, err)
				}
			}
		})
	}
}

// TestRefreshSubjectChanged: an account deleted and re-created under the
// same name has another subject; the old account's family ends (issue 17,
// item 8).
func TestRefreshSubjectChanged(t *testing.T) {
	t.Parallel()
	f := newRefFixture(t, nil)
	rt := f.login(t, "app")
	f.users.mu.Lock()
	u := f.users.users["alice"]
	u.Subject = "user-2"
	f.users.users["alice"] = u
	f.users.mu.Unlock()
	checkTokResponse(t, f.refresh(rt, "app"), 400, tokErrorHeaders(), errInvalidRefresh)
	if n := f.store.Len(); n != 0 {
		t.Errorf("families left: %d, want 0", n)
	}
}

// TestRevokeSubjectEndsFamilies: log-out-everywhere through the endpoint
// ends the subject's refresh families, so that none refreshes again after
// the subject's revocation entry has expired (24 hours in memory, families
// 30 days; issue 17, item 2).
func TestRevokeSubjectEndsFamilies(t *testing.T) {
	t.Parallel()
	var revs *guard.MemoryRevocations
	f := newRefFixture(t, func(c *TokenEndpointConfig) {
		c.Refresh.Lifetime, c.Refresh.IdleTimeout = 30*24*time.Hour, 7*24*time.Hour
		// One entry, so that the next revocation drops an expired one.
		revs = guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{Now: c.Now, MaxEntries: 1})
		c.Revocations = revs
	})
	rts := []string{f.login(t, "app"), f.login(t, "")}
	other, err := f.e.startRefreshFamily(context.Background(), "app", "carol", "carol", []string{"read"}, IssuedToken{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.e.RevokeSubject(context.Background(), "user-1"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(25 * time.Hour) // the memory revocation entry has lapsed…
	if err := revs.RevokeToken(context.Background(), "other", f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err) // …and is dropped to make room
	}
	for i, rt := range rts {
		client := []string{"app", ""}[i]
		checkTokResponse(t, f.refresh(rt, client), 400, tokErrorHeaders(), errInvalidRefresh)
	}
	f.checkRefreshSuccess(t, f.refresh(other, "app"), "read")
	// A login after the revocation works.
	f.clock.Add(time.Millisecond)
	f.checkRefreshSuccess(t, f.refresh(f.loginPassword(t, "app"), "app"), "read write")
}
