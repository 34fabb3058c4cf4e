package guard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
)

// Defaults and bounds of an [IntrospectionChecker].
const (
	// DefaultIntrospectionCacheFor is how long an "active" answer is
	// trusted when IntrospectionCheckerConfig.CacheFor is zero.
	DefaultIntrospectionCacheFor = 5 * time.Second
	// MaxIntrospectionCacheFor is the longest CacheFor accepted: the
	// longest a revocation at the issuer may go unnoticed.
	MaxIntrospectionCacheFor = 30 * time.Second
	// DefaultIntrospectionTimeout bounds one introspection request (and one
	// discovery fetch), body included, when Timeout is zero.
	DefaultIntrospectionTimeout = 5 * time.Second
	// DefaultIntrospectionMaxEntries bounds the cache when MaxEntries is zero.
	DefaultIntrospectionMaxEntries = 10_000
	// MaxIntrospectionResponseBytes caps an introspection response; a
	// longer one is a failure ([ErrResponseTooLarge]).
	MaxIntrospectionResponseBytes = 64 << 10
)

// introspectionDiscoveryRetry is how long a failed discovery is answered
// from memory before the issuer is asked again, so a flood of requests
// while the issuer is down costs it one fetch per interval.
const introspectionDiscoveryRetry = time.Second

// IntrospectionCheckerConfig configures an [IntrospectionChecker]. Exactly
// one of Issuer and Endpoint is required, and ClientID and ClientSecret.
// The config is copied; changing it afterwards has no effect.
type IntrospectionCheckerConfig struct {
	// Issuer is the issuer identifier, such as https://auth.example: the
	// checker reads the introspection_endpoint of its metadata (OpenID
	// Connect Discovery 1.0, then RFC 8414 on a 404; the document's
	// "issuer" must equal Issuer exactly), on its first check and again
	// after a failed discovery, at most once per second.
	Issuer string
	// Endpoint is the introspection endpoint's URL, instead of Issuer.
	Endpoint string
	// ClientID and ClientSecret authenticate the checker to the endpoint
	// with HTTP Basic (RFC 6749 §2.3.1, form-encoded). Required: RFC 7662
	// §2.1 requires the caller to be authorized, and guard's
	// authserver lets only confidential clients with the
	// "introspection" permission in.
	ClientID     string
	ClientSecret Secret
	// CacheFor is how long an "active" answer is reused for the same token
	// (issuer and "jti"): the staleness bound, the longest a revocation at
	// the issuer can go unnoticed here. Default
	// [DefaultIntrospectionCacheFor] (5s); at most
	// [MaxIntrospectionCacheFor] (30s). An "inactive" answer is kept until
	// the token expires, as a revoked token never comes back.
	CacheFor time.Duration
	// MaxEntries bounds the cache. When it is full, expired answers are
	// dropped first, then arbitrary ones (a dropped answer only costs one
	// more request). Default [DefaultIntrospectionMaxEntries] (10 000).
	MaxEntries int
	// Timeout bounds one introspection request, and one discovery fetch,
	// from the request to the body's last byte. Default
	// [DefaultIntrospectionTimeout] (5s).
	Timeout time.Duration
	// HTTPClient makes the requests. Default: a client with Go's default
	// transport. Introspection requests never follow redirects (a redirect
	// would carry the token elsewhere): a 3xx is a failure. Discovery
	// follows redirects that keep the scheme and pass the URL rule.
	HTTPClient *http.Client
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// IntrospectionChecker is a [RevocationChecker] that asks the token's
// issuer: it sends the token to the issuer's OAuth 2.0 introspection
// endpoint (RFC 7662) and takes "active": false as revoked. Set it as a
// Verifier's [VerifierConfig].Revocations; it is per verifier, so hot
// routes can keep a local [MemoryRevocations] while others ask the issuer.
// The Verifier calls [IntrospectionChecker.RevokedToken] only after the
// signature and claims have verified.
//
// Answers are cached per token, keyed by issuer and "jti": an "active"
// answer for at most CacheFor (the documented staleness bound), an
// "inactive" one until the token expires. Concurrent checks of one token
// share one request (single flight); a caller whose context ends stops
// waiting, and the request goes on for the others. A token without "jti"
// (RFC 9068 §2.2 requires one) is not cached: it is introspected on every
// check.
//
// It fails closed: an unreachable endpoint, a timeout, a status other than
// 200 (redirects included), a Content-Type other than application/json, a
// body over [MaxIntrospectionResponseBytes], malformed JSON, an "active"
// member missing or not a boolean, or an active answer naming another
// "jti" are errors, which the verifier answers 503 temporarily_unavailable
// with Retry-After, never letting the request through. Failures are not
// cached: the next check asks again.
//
// URLs must be https, or http to a loopback host ("localhost",
// 127.0.0.0/8, ::1). It is safe for concurrent use; create it with
// [NewIntrospectionChecker]. The zero value answers every check with an
// error (503).
type IntrospectionChecker struct {
	issuer     string
	clientID   string
	secret     Secret
	cacheFor   time.Duration
	timeout    time.Duration
	maxEntries int
	client     *http.Client // introspection: no redirects
	discover   *http.Client // discovery: remoteClient's redirect rule
	now        func() time.Time

	endpoint atomic.Pointer[string] // configured or discovered

	mu        sync.RWMutex
	cache     map[introspectionKey]introspectionEntry
	flights   map[introspectionKey]*introspectionFlight
	discovery *introspectionFlight // discovery in flight
	discErr   error                // the last failed discovery
	discUntil time.Time            // until when discErr is the answer

	joined func() // tests: called when a check joins a request in flight
}

type introspectionKey struct{ iss, jti string }

type introspectionEntry struct {
	revoked bool
	until   time.Time
}

// introspectionFlight is one request in flight, shared by every check that
// waits for it; revoked and err are set before done is closed.
type introspectionFlight struct {
	done    chan struct{}
	revoked bool
	err     error
}

var errIntrospectionZero = errors.New("guard: IntrospectionChecker used without NewIntrospectionChecker")

// errIntrospectionNoToken: Revoked was called without the token and the
// cache had no answer.
var errIntrospectionNoToken = errors.New("guard: IntrospectionChecker needs the token (RevokedToken) for an answer not in its cache")

// NewIntrospectionChecker validates cfg and returns a checker with an
// empty cache; it makes no request. It reports every problem at once:
// neither or both of Issuer and Endpoint, a URL that is not https (or http
// to loopback), a missing ClientID or ClientSecret, CacheFor outside [0,
// 30s], negative Timeout or MaxEntries.
func NewIntrospectionChecker(cfg IntrospectionCheckerConfig) (*IntrospectionChecker, error) {
	var errs []error
	switch {
	case cfg.Issuer == "" && cfg.Endpoint == "":
		errs = append(errs, errors.New("guard: IntrospectionCheckerConfig needs Issuer or Endpoint"))
	case cfg.Issuer != "" && cfg.Endpoint != "":
		errs = append(errs, errors.New("guard: IntrospectionCheckerConfig takes Issuer or Endpoint, not both"))
	case cfg.Endpoint != "":
		if _, err := checkRemoteURL(cfg.Endpoint, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: IntrospectionCheckerConfig.Endpoint: %w", err))
		}
	default:
		if _, _, err := discoveryURLs(cfg.Issuer, false); err != nil {
			errs = append(errs, fmt.Errorf("guard: IntrospectionCheckerConfig.Issuer: %w", err))
		}
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("guard: IntrospectionCheckerConfig.ClientID is empty"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("guard: IntrospectionCheckerConfig.ClientSecret is empty"))
	}
	if cfg.CacheFor < 0 || cfg.CacheFor > MaxIntrospectionCacheFor {
		errs = append(errs, fmt.Errorf("guard: IntrospectionCheckerConfig.CacheFor %v is outside [0, %v]", cfg.CacheFor, MaxIntrospectionCacheFor))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("guard: IntrospectionCheckerConfig.Timeout %v is negative", cfg.Timeout))
	}
	if cfg.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("guard: IntrospectionCheckerConfig.MaxEntries %d is negative", cfg.MaxEntries))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var noRedirect http.Client
	if cfg.HTTPClient != nil {
		noRedirect = *cfg.HTTPClient
	}
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ic := &IntrospectionChecker{
		issuer:     cfg.Issuer,
		clientID:   cfg.ClientID,
		secret:     cfg.ClientSecret,
		cacheFor:   cmp.Or(cfg.CacheFor, DefaultIntrospectionCacheFor),
		timeout:    cmp.Or(cfg.Timeout, DefaultIntrospectionTimeout),
		maxEntries: cmp.Or(cfg.MaxEntries, DefaultIntrospectionMaxEntries),
		client:     &noRedirect,
		discover:   remoteClient(cfg.HTTPClient, false),
		now:        cfg.Now,
		cache:      map[introspectionKey]introspectionEntry{},
		flights:    map[introspectionKey]*introspectionFlight{},
	}
	if ic.now == nil {
		ic.now = time.Now
	}
	if cfg.Endpoint != "" {
		ep := cfg.Endpoint
		ic.endpoint.Store(&ep)
	}
	return ic, nil
}

// MustNewIntrospectionChecker is [NewIntrospectionChecker] for wiring in
// main and tests: it panics on a config error.
func MustNewIntrospectionChecker(cfg IntrospectionCheckerConfig) *IntrospectionChecker {
	ic, err := NewIntrospectionChecker(cfg)
	if err != nil {
		panic(err)
	}
	return ic
}

// String names the checker by its issuer or endpoint, never its secret.
func (ic *IntrospectionChecker) String() string {
	if ic == nil || ic.now == nil {
		return "IntrospectionChecker(zero)"
	}
	if ic.issuer != "" {
		return "IntrospectionChecker(issuer " + ic.issuer + ")"
	}
	return "IntrospectionChecker(" + redactURL(*ic.endpoint.Load()) + ")"
}

// GoString is String, for %#v: the secret never prints.
func (ic *IntrospectionChecker) GoString() string { return ic.String() }

// Revoked implements [RevocationChecker] from the cache alone: it has no
// token to send. Without a fresh cached answer it returns an error (503
// from a verifier). A [Verifier] calls RevokedToken instead.
func (ic *IntrospectionChecker) Revoked(_ context.Context, c *Claims) (bool, error) {
	if ic == nil || ic.now == nil {
		return false, errIntrospectionZero
	}
	if c.ID != "" {
		if revoked, ok := ic.cached(introspectionKey{c.Issuer, c.ID}, ic.now()); ok {
			return revoked, nil
		}
	}
	return false, errIntrospectionNoToken
}

// RevokedToken implements [TokenRevocationChecker]: it reports whether the
// issuer answers "active": false for token, whose verified claims are c,
// from the cache when it holds a fresh answer. See [IntrospectionChecker]
// for the cache, the sharing of requests and the failures.
func (ic *IntrospectionChecker) RevokedToken(ctx context.Context, token string, c *Claims) (bool, error) {
	if ic == nil || ic.now == nil {
		return false, errIntrospectionZero
	}
	if c.ID == "" {
		return ic.ask(ctx, token, "")
	}
	key := introspectionKey{c.Issuer, c.ID}
	now := ic.now()
	if revoked, ok := ic.cached(key, now); ok {
		return revoked, nil
	}
	ic.mu.Lock()
	if e, ok := ic.cache[key]; ok && now.Before(e.until) {
		ic.mu.Unlock()
		return e.revoked, nil
	}
	f := ic.flights[key]
	if f == nil {
		f = &introspectionFlight{done: make(chan struct{})}
		ic.flights[key] = f
		// The request outlives a caller that stops waiting, for the others;
		// Timeout bounds it. c is read here, not in the goroutine: the
		// verifier reuses it.
		go ic.fly(context.WithoutCancel(ctx), f, key, token, c.ExpiresAt)
	} else if ic.joined != nil {
		ic.joined()
	}
	ic.mu.Unlock()
	select {
	case <-f.done:
		return f.revoked, f.err
	case <-ctx.Done():
		return false, fmt.Errorf("guard: introspection: %w", ctx.Err())
	}
}

// cached returns the fresh cached answer for key, if any.
func (ic *IntrospectionChecker) cached(key introspectionKey, now time.Time) (revoked, ok bool) {
	ic.mu.RLock()
	e, ok := ic.cache[key]
	ic.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return false, false
	}
	return e.revoked, true
}

// fly makes the request of f and stores its answer.
func (ic *IntrospectionChecker) fly(ctx context.Context, f *introspectionFlight, key introspectionKey, token string, exp time.Time) {
	start := ic.now()
	revoked, err := ic.ask(ctx, token, key.jti)
	ic.mu.Lock()
	delete(ic.flights, key)
	if err == nil {
		until := start.Add(ic.cacheFor)
		if revoked || exp.Before(until) {
			until = exp // a revoked token stays revoked; an answer never outlives its token
		}
		ic.put(key, introspectionEntry{revoked: revoked, until: until}, start)
	}
	ic.mu.Unlock()
	f.revoked, f.err = revoked, err
	close(f.done)
}

// put stores e under key, making room first; ic.mu is held.
func (ic *IntrospectionChecker) put(key introspectionKey, e introspectionEntry, now time.Time) {
	if _, ok := ic.cache[key]; !ok && len(ic.cache) >= ic.maxEntries {
		for k, old := range ic.cache {
			if !now.Before(old.until) {
				delete(ic.cache, k)
			}
		}
		// Still full: drop arbitrary entries (map order is random), down to
		// seven eighths, so the next inserts do not scan again.
		for k := range ic.cache {
			if len(ic.cache) < ic.maxEntries-ic.maxEntries/8 {
				break
			}
			delete(ic.cache, k)
		}
	}
	ic.cache[key] = e
}

// introspectionResponse is what the checker reads of an RFC 7662 §2.2
// answer; other members are ignored.
type introspectionResponse struct {
	Active *bool  `json:"active"`
	ID     string `json:"jti"`
}

// ask sends token to the endpoint and reports whether it is inactive. jti,
// when not empty, must be the answer's "jti" if the answer names one.
func (ic *IntrospectionChecker) ask(ctx context.Context, token, jti string) (bool, error) {
	endpoint, err := ic.endpointURL(ctx)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, ic.timeout)
	defer cancel()
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return false, fmt.Errorf("guard: introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(ic.clientID), url.QueryEscape(string(ic.secret)))
	where := redactURL(endpoint)
	resp, err := ic.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("guard: introspection POST %s: %w", where, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // a little, for connection reuse
		return false, fmt.Errorf("guard: introspection POST %s: status %d", where, resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false, fmt.Errorf("guard: introspection POST %s: Content-Type %q is not application/json", where, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > MaxIntrospectionResponseBytes {
		return false, fmt.Errorf("%w: introspection POST %s: Content-Length %d is over %d bytes", ErrResponseTooLarge, where, resp.ContentLength, MaxIntrospectionResponseBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxIntrospectionResponseBytes+1))
	if err != nil {
		return false, fmt.Errorf("guard: introspection POST %s: reading body: %w", where, err)
	}
	if len(body) > MaxIntrospectionResponseBytes {
		return false, fmt.Errorf("%w: introspection POST %s: body is over %d bytes", ErrResponseTooLarge, where, MaxIntrospectionResponseBytes)
	}
	var r introspectionResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return false, fmt.Errorf("guard: introspection POST %s: malformed answer: %w", where, err)
	}
	switch {
	case r.Active == nil:
		return false, fmt.Errorf("guard: introspection POST %s: answer has no \"active\" member", where)
	case !*r.Active:
		return true, nil
	case jti != "" && r.ID != "" && r.ID != jti:
		return false, fmt.Errorf("guard: introspection POST %s: answer is about another token (jti)", where)
	}
	return false, nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// endpointURL returns the configured or discovered endpoint, discovering
// it (single flight) when needed.
func (ic *IntrospectionChecker) endpointURL(ctx context.Context) (string, error) {
	if p := ic.endpoint.Load(); p != nil {
		return *p, nil
	}
	now := ic.now()
	ic.mu.Lock()
	if ic.discErr != nil && now.Before(ic.discUntil) {
		err := ic.discErr
		ic.mu.Unlock()
		return "", err
	}
	f := ic.discovery
	if f == nil {
		f = &introspectionFlight{done: make(chan struct{})}
		ic.discovery = f
		go ic.discoverEndpoint(context.WithoutCancel(ctx), f)
	}
	ic.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return "", f.err
		}
		return *ic.endpoint.Load(), nil
	case <-ctx.Done():
		return "", fmt.Errorf("guard: introspection discovery: %w", ctx.Err())
	}
}

func (ic *IntrospectionChecker) discoverEndpoint(ctx context.Context, f *introspectionFlight) {
	ep, err := discoverIntrospectionEndpoint(ctx, ic.discover, ic.issuer, ic.timeout)
	ic.mu.Lock()
	ic.discovery = nil
	if err != nil {
		ic.discErr, ic.discUntil = err, ic.now().Add(introspectionDiscoveryRetry)
	} else {
		ic.discErr = nil
		ic.endpoint.Store(&ep)
	}
	ic.mu.Unlock()
	f.err = err
	close(f.done)
}

var _ TokenRevocationChecker = (*IntrospectionChecker)(nil)
