package authserver

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/guardkit/guard"
)

// TestHooksTokenEndpoint: the token endpoint honours the hooks too.
func TestHooksTokenEndpoint(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{}, nil)
	var (
		mu     sync.Mutex
		events []guard.AuthEvent
	)
	hooks := guard.Hooks{ErrorWriter: jsonErrors, Audit: func(_ context.Context, ev guard.AuthEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}}
	h := hooks.Use(f.e)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, tokRequest(form("grant_type", "password", "username", "alice", "password", "wrong")))
	if w.Code != 400 || w.Header().Get("Content-Type") != "application/problem+json" || w.Body.String() != `{"title":"invalid_grant"}` {
		t.Errorf("got %d %q %q, want the app's invalid_grant", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	h.ServeHTTP(httptest.NewRecorder(), tokRequest(form("grant_type", "password", "username", "alice", "password", tokAlicePW)))
	h.ServeHTTP(httptest.NewRecorder(), tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, "wrong")))
	if len(events) != 3 {
		t.Fatalf("events: got %d, want 3: %+v", len(events), events)
	}
	if ev := events[0]; ev.Method != guard.MethodPassword || ev.Subject != "alice" || !errors.Is(ev.Err, guard.ErrInvalidGrant) || !strings.Contains(ev.Err.Error(), "mismatch") {
		t.Errorf("failed login: got %+v", ev)
	}
	if ev := events[1]; ev.Method != guard.MethodPassword || ev.Subject != "alice" || ev.Err != nil {
		t.Errorf("login: got %+v", ev)
	}
	if ev := events[2]; ev.Method != guard.MethodClient || ev.Subject != tokSvcID || !errors.Is(ev.Err, guard.ErrInvalidClient) {
		t.Errorf("failed client authentication: got %+v", ev)
	}
}
