package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/guardkit/guard"
)

// The token endpoint's throttling policy. Every check of a password or a
// client secret first reserves one attempt on three counters, each an atomic
// check-and-count (see [LoginLimiter]):
//
//   - the account (the store's canonical username, or for a name the store
//     does not know its folded spelling; or the client_id) from this client
//     IP, on TokenEndpointConfig.Limiter;
//   - this client IP, whatever the account, on IPLimiter;
//   - the account from anywhere, on AccountLimiter, skipped when this
//     account has logged in from this IP before (the pair's Succeeded flag).
//
// An attempt that fails stays counted; one that succeeds, or is never
// evaluated (busy hashing pool), is refunded. So a guesser elsewhere cannot
// lock the real user out of a client IP that user logged in from, and a
// guesser spread over many IPs still meets the account ceiling.

// limiterKey is the key of one counter: a prefix naming the counter and a
// fixed-size digest of its parts, so a 16 KiB username costs a limiter the
// same as a short one and no part can inject separators into a store's key.
func limiterKey(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return prefix + base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

// foldAccountName is the name an unknown account is counted under: trimmed
// and lower-cased, as citext, *_ci collations and LOWER() lookups fold it.
func foldAccountName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// lease is the three reservations of one credential check.
type lease struct {
	pair, ip, account string // keys; account is "" when skipped
	e                 *TokenEndpoint
}

// reserve reserves an attempt for account (kind "user" or "client") from
// req's client IP. It answers 429 with Retry-After when a counter must wait,
// and 503 when a limiter fails.
func (e *TokenEndpoint) reserve(ctx context.Context, kind, account string, req *tokenRequest) (*lease, error) {
	l := &lease{e: e, pair: limiterKey(kind+"-ip:", account, req.ipKey), ip: limiterKey("ip:", req.ipKey)}
	pair, err := e.limiter.Reserve(ctx, l.pair)
	if err != nil {
		return nil, e.limiterDown(ctx, err)
	}
	if pair.RetryAfter > 0 {
		return nil, throttledFor(pair.RetryAfter)
	}
	ip, err := e.ipLimiter.Reserve(ctx, l.ip)
	if err != nil || ip.RetryAfter > 0 {
		e.refund(ctx, e.limiter, l.pair)
		if err != nil {
			return nil, e.limiterDown(ctx, err)
		}
		return nil, throttledFor(ip.RetryAfter)
	}
	if pair.Succeeded {
		return l, nil
	}
	acctKey := limiterKey(kind+":", account)
	acct, err := e.accountLimiter.Reserve(ctx, acctKey)
	if err != nil || acct.RetryAfter > 0 {
		e.refund(ctx, e.limiter, l.pair)
		e.refund(ctx, e.ipLimiter, l.ip)
		if err != nil {
			return nil, e.limiterDown(ctx, err)
		}
		return nil, throttledFor(acct.RetryAfter)
	}
	l.account = acctKey
	return l, nil
}

// cancel refunds every reservation: the attempt was never evaluated.
func (l *lease) cancel(ctx context.Context) {
	l.e.refund(ctx, l.e.limiter, l.pair)
	l.settle(ctx)
}

// succeed records a successful attempt: the pair remembers it, and the IP and
// account counts are refunded (a success must not wipe them, or one known
// password would reset the count of guesses against others).
func (l *lease) succeed(ctx context.Context) {
	if err := l.e.limiter.Succeed(ctx, l.pair); err != nil {
		l.e.log(ctx, "limiter failed", "error", err)
	}
	l.settle(ctx)
}

func (l *lease) settle(ctx context.Context) {
	l.e.refund(ctx, l.e.ipLimiter, l.ip)
	if l.account != "" {
		l.e.refund(ctx, l.e.accountLimiter, l.account)
	}
}

func (e *TokenEndpoint) refund(ctx context.Context, lim LoginLimiter, key string) {
	if err := lim.Refund(ctx, key); err != nil {
		e.log(ctx, "limiter failed", "error", err)
	}
}

func throttledFor(wait time.Duration) error {
	err := *errTokenThrottled
	err.RetryAfter = wait
	return &err
}

// limiterDown answers a limiter failure: fail closed, 503 with Retry-After.
func (e *TokenEndpoint) limiterDown(ctx context.Context, err error) error {
	e.logError(ctx, "limiter failed", "error", err)
	return guard.Unavailable(errors.Join(errLimiter, err))
}

var errLimiter = errors.New("guard: limiter")
