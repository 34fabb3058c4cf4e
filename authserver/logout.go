package authserver

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/guardkit/guard"
)

// maxLogoutBody bounds the form of a log-out-everywhere request.
const maxLogoutBody = 4 << 10

// LogoutEverywhereConfig configures [NewLogoutEverywhere]. The config is
// copied; changing it afterwards has no effect.
type LogoutEverywhereConfig struct {
	// Tokens ends the sessions with [TokenEndpoint.RevokeSubject]: every
	// token of the subject issued until now is refused (through its
	// Revocations), and every refresh family of the subject is deleted, so
	// no session outlives the revocation entry. Required.
	Tokens *TokenEndpoint
	// AdminRoles lets a principal holding one of them end another subject's
	// sessions, named in the form field "subject". Default none: a principal
	// ends only its own.
	AdminRoles []string
	// ErrorWriter writes failures. Default: the request's [guard.Hooks], or
	// [guard.WriteError].
	ErrorWriter guard.ErrorWriter
	// Logger receives one Info line per logout (subject and, for an admin,
	// who asked) and the store's errors. Default slog.Default().
	Logger *slog.Logger
}

// LogoutEverywhere is the "log out everywhere" handler: for after a password
// change, a lost device, or an administrator's decision. It is safe for
// concurrent use.
type LogoutEverywhere struct {
	cfg LogoutEverywhereConfig
}

// NewLogoutEverywhere returns the handler, to mount at a POST route behind
// an authenticating middleware ([guard.Verifier.RequireBearer], say):
//
//	mux.Handle("POST /logout-everywhere", v.RequireBearer(logout))
//
// It revokes the principal's subject, or, for a principal holding one of
// AdminRoles, the subject named in the form field "subject". Answers: 204
// No Content with Cache-Control: no-store when the revocation is stored;
// 401 without a principal (the route is not behind authentication); 403
// insufficient_scope when a principal without an admin role names another
// subject; 400 invalid_request for a malformed or oversized form or an empty
// subject; 405 with Allow: POST for other methods; 503
// temporarily_unavailable with Retry-After when the store fails (the logout
// did not happen: retry).
func NewLogoutEverywhere(cfg LogoutEverywhereConfig) (*LogoutEverywhere, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("guard: LogoutEverywhereConfig.Tokens is required")
	}
	if cfg.Tokens.cfg.Revocations == nil {
		return nil, errors.New("guard: LogoutEverywhereConfig.Tokens has no Revocations: a logout could not refuse the subject's access tokens")
	}
	if slices.Contains(cfg.AdminRoles, "") {
		return nil, errors.New("guard: LogoutEverywhereConfig.AdminRoles has an empty role")
	}
	cfg.AdminRoles = slices.Clone(cfg.AdminRoles)
	if cfg.ErrorWriter == nil {
		cfg.ErrorWriter = guard.WriteRequestError
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &LogoutEverywhere{cfg: cfg}, nil
}

var (
	errLogoutMethod  = &guard.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "POST required"}
	errLogoutForm    = &guard.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed form", Err: guard.ErrInvalidRequest}
	errLogoutSubject = &guard.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "empty subject", Err: guard.ErrInvalidRequest}
)

func (h *LogoutEverywhere) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h == nil || h.cfg.Tokens == nil {
		guard.WriteError(w, r, errors.New("guard: LogoutEverywhere used without NewLogoutEverywhere"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.cfg.ErrorWriter(w, r, errLogoutMethod)
		return
	}
	p, ok := guard.PrincipalFrom(r.Context())
	if !ok || p.Subject == "" {
		h.cfg.ErrorWriter(w, r, guard.ErrNoCredentials)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		h.cfg.ErrorWriter(w, r, errLogoutForm)
		return
	}
	subject, by := p.Subject, ""
	if v, named := r.PostForm["subject"]; named {
		if len(v) != 1 || v[0] == "" {
			h.cfg.ErrorWriter(w, r, errLogoutSubject)
			return
		}
		if v[0] != p.Subject {
			if !slices.ContainsFunc(h.cfg.AdminRoles, p.HasRole) {
				h.cfg.ErrorWriter(w, r, &guard.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
					Description: "only an administrator may end another subject's sessions", Scope: strings.Join(h.cfg.AdminRoles, " "),
					Challenges: []string{`Bearer realm="` + guard.DefaultRealm + `"`}, Err: guard.ErrInsufficientScope})
				return
			}
			subject, by = v[0], p.Subject
		}
	}
	ctx := r.Context()
	if err := h.cfg.Tokens.RevokeSubject(ctx, subject); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "guard: logout everywhere failed", "subject", subject, "error", err)
		var e *guard.Error
		if !errors.As(err, &e) {
			e = guard.Unavailable(err)
		}
		h.cfg.ErrorWriter(w, r, e)
		return
	}
	if by != "" {
		h.cfg.Logger.InfoContext(ctx, "guard: logout everywhere", "subject", subject, "by", by)
	} else {
		h.cfg.Logger.InfoContext(ctx, "guard: logout everywhere", "subject", subject)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
