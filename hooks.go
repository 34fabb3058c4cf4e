package guard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
)

// Hooks are an app's error shape and audit trail, set once for every guard
// middleware and handler a request passes through: [Verifier.RequireBearer],
// [APIKeyAuth.RequireAPIKey], [RequireAuth], [OptionalAuth], [RequireRole],
// [RequireScope], the [Authorizer], and the authorization server's
// endpoints (package authserver). Install them outermost with [Hooks.Use].
// A component's own ErrorWriter, when set, still wins for that component.
//
// Hooks travel in the request context beside the principal. They decide how a
// refusal is written and who hears of it, never whether a request is refused.
type Hooks struct {
	// ErrorWriter writes every failure. Default [WriteError]; custom writers
	// can render the standard challenge with [Error.WWWAuthenticate].
	ErrorWriter ErrorWriter
	// Audit observes each authentication by middleware and each login or
	// client authentication at the token endpoint, successful or not. It runs
	// on the request's goroutine: keep it fast (count a metric, write a log
	// line). Default: a slog line to [slog.Default] at Debug level (so a flood
	// of bad tokens cannot flood the logs of an app that did not ask).
	Audit func(ctx context.Context, ev AuthEvent)
}

// AuthEvent is one authentication outcome, for [Hooks.Audit].
type AuthEvent struct {
	// Method is how the credentials were presented: MethodBearer,
	// MethodAPIKey, MethodPassword (a login at the token endpoint) or
	// MethodClient (client authentication there). MethodNone when a request
	// carried no credentials or several kinds at once.
	Method Method
	// Subject is the principal's subject on success, and at the token
	// endpoint the account named (the store's canonical username or the
	// client_id), whether or not it exists.
	Subject string
	// Principal is the authenticated principal on success of middleware.
	Principal *Principal
	// Err is nil on success, else why the attempt failed (an *[Error] or a
	// sentinel, for logs and metrics; never send its text to the client).
	Err error
}

// LogValue implements [slog.LogValuer].
func (ev AuthEvent) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("method", ev.Method.String())}
	if ev.Subject != "" {
		attrs = append(attrs, slog.String("subject", ev.Subject))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

type hooksKey struct{}

// Use returns next with the hooks installed for every request.
func (h Hooks) Use(next http.Handler) http.Handler {
	hp := &h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hooksKey{}, hp)))
	})
}

func hooksFrom(r *http.Request) *Hooks {
	h, _ := r.Context().Value(hooksKey{}).(*Hooks)
	return h
}

// WriteRequestError writes err with the [Hooks.ErrorWriter] installed on r
// (see [Hooks.Use]), or with [WriteError]. It is the writer of every
// component whose config leaves ErrorWriter nil, here and in the
// authorization server; an app's own handlers and authenticators use it so
// that their refusals take the app's error shape.
func WriteRequestError(w http.ResponseWriter, r *http.Request, err error) {
	if h := hooksFrom(r); h != nil && h.ErrorWriter != nil {
		h.ErrorWriter(w, r, err)
		return
	}
	WriteError(w, r, err)
}

// Audit reports ev to the [Hooks.Audit] installed on r, or, without one, to
// [slog.Default] at Debug level. Components outside this package (the
// authorization server, an app's own [Authenticator]) report through it so
// that one audit trail sees every authentication.
func Audit(r *http.Request, ev AuthEvent) {
	ctx := r.Context()
	if h := hooksFrom(r); h != nil && h.Audit != nil {
		h.Audit(ctx, ev)
		return
	}
	// Debug, so that a flood of bad tokens cannot flood the logs of an app
	// that did not ask for them.
	l := slog.Default()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	msg := "guard: authenticated"
	switch {
	case errors.Is(ev.Err, ErrNoCredentials):
		msg = "guard: no credentials"
	case ev.Err != nil:
		msg = "guard: authentication failed"
	}
	l.LogAttrs(ctx, slog.LevelDebug, msg, slog.Any("auth", ev))
}

type trackKey struct{}

// TrackPrincipal lets a middleware that wraps guard's, such as an access
// log, see the principal an inner authentication middleware establishes:
// serve the returned request, then call principal.
//
//	r, principal := guard.TrackPrincipal(r)
//	next.ServeHTTP(w, r)
//	p, ok := principal() // the authenticated principal, if any
//
// It is safe to call principal from any goroutine once next has returned.
func TrackPrincipal(r *http.Request) (*http.Request, func() (*Principal, bool)) {
	slot := new(atomic.Pointer[Principal])
	r = r.WithContext(context.WithValue(r.Context(), trackKey{}, slot))
	return r, func() (*Principal, bool) {
		p := slot.Load()
		return p, p != nil
	}
}

// trackPrincipal records p for an outer [TrackPrincipal], if there is one.
func trackPrincipal(r *http.Request, p *Principal) {
	if slot, ok := r.Context().Value(trackKey{}).(*atomic.Pointer[Principal]); ok {
		slot.Store(p)
	}
}
