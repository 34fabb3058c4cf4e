package guard

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a [RemoteKeySet].
const (
	// DefaultMinRefresh is the shortest time a fetched set is held before a
	// scheduled refresh, whatever its Cache-Control says.
	DefaultMinRefresh = time.Minute
	// DefaultMaxRefresh is the longest.
	DefaultMaxRefresh = time.Hour
	// DefaultRefetchInterval is how often, at most, an unknown kid makes a
	// remote key set fetch its keys again.
	DefaultRefetchInterval = 30 * time.Second
	// DefaultMaxStale is how long a remote key set keeps its last good keys
	// past their freshness while every refresh fails.
	DefaultMaxStale = 24 * time.Hour
)

// RemoteKeySetConfig configures a [RemoteKeySet]. Exactly one of URL and
// Issuer is required. The config is copied; changing it afterwards has no
// effect.
type RemoteKeySetConfig struct {
	// URL is the JWK Set's address (RFC 7517 §5), such as
	// https://idp.example/.well-known/jwks.json.
	URL string
	// Issuer is an issuer identifier, such as https://idp.example. The set
	// finds its JWK Set through the issuer's metadata: OpenID Connect
	// Discovery 1.0 (/.well-known/openid-configuration appended to Issuer)
	// or, when that answers 404, RFC 8414 (/.well-known/oauth-authorization-server).
	// The document's "issuer" must equal Issuer exactly and its "jwks_uri"
	// is fetched. Discovery runs on the first fetch and again after a
	// failed one.
	Issuer string
	// HTTPClient makes the requests. Default: a client with Go's default
	// transport. Its CheckRedirect is wrapped: a redirect that changes the
	// scheme or leads to a URL the set would refuse is not followed.
	HTTPClient *http.Client
	// DangerouslyAllowInsecureHTTP accepts plain http URLs to any host (and
	// redirects to them from http URLs), where anyone on the path can
	// replace the keys. Default false: https, or http to a loopback host
	// ("localhost", 127.0.0.0/8, ::1) only.
	DangerouslyAllowInsecureHTTP bool
	// Timeout bounds one fetch, from the request to the body's last byte.
	// Default [DefaultRemoteTimeout] (10s).
	Timeout time.Duration
	// MaxResponseBytes caps a fetched document; the body is read no further.
	// Default and maximum [DefaultMaxRemoteBytes] (1 MiB), which is also
	// the cap of [ParseJWKSet]. A JWK Set is read with ParseJWKSet: at most
	// [MaxJWKSetKeys] keys; unusable keys are skipped and logged; secret
	// (HMAC) keys are never used.
	MaxResponseBytes int64
	// MinRefresh and MaxRefresh bound how long a fetched set is fresh: its
	// Cache-Control max-age clamped to [MinRefresh, MaxRefresh] (no-store
	// and no-cache count as 0; without either, MinRefresh). The set is
	// fetched again in the background when 90% of that time has passed, so
	// new keys arrive before it would be stale. Defaults
	// [DefaultMinRefresh] (1m) and [DefaultMaxRefresh] (1h).
	MinRefresh, MaxRefresh time.Duration
	// RefetchInterval rate-limits fetches caused by tokens whose kid the set
	// does not know: one happens only when the last fetch started at least
	// this long ago; concurrent misses share it (single flight). So a flood
	// of tokens with made-up kids costs at most one fetch per interval.
	// Default [DefaultRefetchInterval] (30s).
	RefetchInterval time.Duration
	// MaxStale is how long the last good set keeps serving after its
	// freshness ended while refreshes fail. After it, the set holds no keys
	// and verifiers answer 503 ([ErrKeysUnavailable]) until a fetch
	// succeeds. Default [DefaultMaxStale] (24h).
	MaxStale time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives one line per failed fetch (warning), per key skipped
	// from a changed set (warning) and per successful fetch (debug). A
	// fetch that returns the same document as before keeps the current
	// snapshot, so verifiers keep their cached header choices and tokens.
	// Default slog.Default().
	Logger *slog.Logger
	// OnError, when set, is called with every fetch failure, from the
	// goroutine that fetched. It must not block.
	OnError func(error)
}

// RemoteKeySet holds the public keys of another party, fetched from its JWK
// Set URL or found through its discovery document, and kept fresh in the
// background. Verifiers read its current keys without locks or I/O; an
// unknown kid triggers a rate-limited, single-flight fetch. It never holds
// secret (HMAC) keys.
//
// Its life is explicit: [NewRemoteKeySet] validates the config and fetches
// nothing; [RemoteKeySet.Start] begins fetching in the background; until
// the first fetch succeeds, verifiers on it answer 503
// temporarily_unavailable with Retry-After ([ErrKeysUnavailable]), never
// accepting a token and never a 500. [RemoteKeySet.Ready] waits for the
// first keys, for a service that would rather not start without them.
// [RemoteKeySet.Close] stops every goroutine it started. When fetches fail,
// the last good keys keep serving for MaxStale; errors go to the Logger and
// OnError.
//
// A RemoteKeySet is safe for concurrent use.
type RemoteKeySet struct {
	url, issuer     string
	client          *http.Client
	insecure        bool
	timeout         time.Duration
	maxBytes        int64
	minFresh        time.Duration
	maxFresh        time.Duration
	refetchInterval time.Duration
	maxStale        time.Duration
	now             func() time.Time
	log             *slog.Logger
	onError         func(error)

	snap      atomic.Pointer[remoteSnapshot]
	ready     chan struct{} // closed when the first good fetch has ended
	readyOnce sync.Once
	// base is cancelled by Close; every fetch runs under it.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// sleep waits d, or until Close; false after Close. Tests replace it.
	sleep func(d time.Duration) bool

	mu          sync.Mutex
	state       int // remoteNew, remoteRunning, remoteClosed
	inflight    *remoteFetch
	lastAttempt time.Time // start of the last fetch
	failures    int       // consecutive failed fetches
	jwksURL     string    // discovered, or URL
}

const (
	remoteNew = iota
	remoteRunning
	remoteClosed
)

// remoteSnapshot is one fetched set, immutable.
type remoteSnapshot struct {
	keys    *KeySnapshot
	body    [sha256.Size]byte // digest of the JWK Set document
	fetched time.Time         // when it arrived
	fresh   time.Duration     // its freshness lifetime
	expires time.Time         // fetched + fresh + MaxStale: no longer served
}

// remoteFetch is one fetch in flight, shared by everyone who waits for it.
type remoteFetch struct {
	done chan struct{}
	err  error
}

// NewRemoteKeySet validates cfg and returns a set that has fetched nothing
// yet; call Start. It reports every problem at once: neither or both of URL
// and Issuer, a URL that is not https (or http to loopback), negative
// limits, MinRefresh above MaxRefresh.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	var errs []error
	switch {
	case cfg.URL == "" && cfg.Issuer == "":
		errs = append(errs, errors.New("guard: RemoteKeySetConfig needs URL or Issuer"))
	case cfg.URL != "" && cfg.Issuer != "":
		errs = append(errs, errors.New("guard: RemoteKeySetConfig takes URL or Issuer, not both"))
	case cfg.URL != "":
		if _, err := checkRemoteURL(cfg.URL, cfg.DangerouslyAllowInsecureHTTP); err != nil {
			errs = append(errs, fmt.Errorf("guard: RemoteKeySetConfig.URL: %w", err))
		}
	default:
		if _, _, err := discoveryURLs(cfg.Issuer, cfg.DangerouslyAllowInsecureHTTP); err != nil {
			errs = append(errs, fmt.Errorf("guard: RemoteKeySetConfig.Issuer: %w", err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", cfg.Timeout}, {"MinRefresh", cfg.MinRefresh}, {"MaxRefresh", cfg.MaxRefresh},
		{"RefetchInterval", cfg.RefetchInterval}, {"MaxStale", cfg.MaxStale}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("guard: RemoteKeySetConfig.%s %v is negative", d.name, d.v))
		}
	}
	if cfg.MaxResponseBytes < 0 || cfg.MaxResponseBytes > DefaultMaxRemoteBytes {
		errs = append(errs, fmt.Errorf("guard: RemoteKeySetConfig.MaxResponseBytes %d is outside [0, %d]", cfg.MaxResponseBytes, DefaultMaxRemoteBytes))
	}
	s := &RemoteKeySet{
		url:             cfg.URL,
		issuer:          cfg.Issuer,
		client:          remoteClient(cfg.HTTPClient, cfg.DangerouslyAllowInsecureHTTP),
		insecure:        cfg.DangerouslyAllowInsecureHTTP,
		timeout:         cmp.Or(cfg.Timeout, DefaultRemoteTimeout),
		maxBytes:        cmp.Or(cfg.MaxResponseBytes, DefaultMaxRemoteBytes),
		minFresh:        cmp.Or(cfg.MinRefresh, DefaultMinRefresh),
		maxFresh:        cmp.Or(cfg.MaxRefresh, DefaultMaxRefresh),
		refetchInterval: cmp.Or(cfg.RefetchInterval, DefaultRefetchInterval),
		maxStale:        cmp.Or(cfg.MaxStale, DefaultMaxStale),
		now:             cfg.Now,
		log:             cfg.Logger,
		onError:         cfg.OnError,
		ready:           make(chan struct{}),
		jwksURL:         cfg.URL,
	}
	if s.minFresh > s.maxFresh {
		errs = append(errs, fmt.Errorf("guard: RemoteKeySetConfig.MinRefresh %v is above MaxRefresh %v", s.minFresh, s.maxFresh))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.sleep = s.timerSleep
	return s, nil
}

// Start begins fetching: the first fetch at once, then refreshes in one
// background goroutine, which Close stops. It returns at once; see Ready.
// Start after Start or Close does nothing.
func (s *RemoteKeySet) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != remoteNew {
		return
	}
	s.state = remoteRunning
	s.wg.Add(1)
	go s.run()
}

// Ready waits until the first set of keys has loaded, and returns nil, or
// until ctx ends, and returns ctx's error joined with the last fetch
// error. Use it with a deadline to make a service wait for its keys at
// start-up; the set keeps trying in the background either way.
func (s *RemoteKeySet) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		var last error
		if s.inflight != nil {
			select {
			case <-s.inflight.done:
				last = s.inflight.err
			default:
			}
		}
		s.mu.Unlock()
		return errors.Join(ctx.Err(), last)
	}
}

// Close stops the background refresh and any fetch in flight, and waits
// for their goroutines to end. The set then keeps its last keys but never
// fetches again. Close is idempotent and returns nil.
func (s *RemoteKeySet) Close() error {
	s.mu.Lock()
	s.state = remoteClosed
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *RemoteKeySet) run() {
	defer s.wg.Done()
	for {
		f := s.fetch(false)
		if f == nil {
			return
		}
		select {
		case <-f.done:
		case <-s.base.Done():
			return
		}
		if !s.sleep(s.nextRefresh()) {
			return
		}
	}
}

// nextRefresh is how long the loop waits before the next scheduled fetch:
// 90% of the current set's freshness from its arrival, or after failures a
// backoff from 1s doubling up to MinRefresh.
func (s *RemoteKeySet) nextRefresh() time.Duration {
	s.mu.Lock()
	failures := s.failures
	s.mu.Unlock()
	if failures > 0 {
		d := time.Second << min(failures-1, 20)
		return min(d, s.minFresh)
	}
	snap := s.snap.Load()
	if snap == nil {
		return s.minFresh
	}
	at := snap.fetched.Add(snap.fresh * 9 / 10)
	return max(at.Sub(s.now()), 0)
}

func (s *RemoteKeySet) timerSleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.base.Done():
		return false
	}
}

// fetch starts a fetch, or joins the one in flight. onDemand fetches (for an
// unknown kid) start only when the last one started RefetchInterval ago or
// more; fetch then returns nil, as it does before Start and after Close.
func (s *RemoteKeySet) fetch(onDemand bool) *remoteFetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != remoteRunning {
		return nil
	}
	if s.inflight != nil {
		select {
		case <-s.inflight.done:
		default:
			return s.inflight
		}
	}
	now := s.now()
	if onDemand && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.refetchInterval {
		return nil
	}
	s.lastAttempt = now
	f := &remoteFetch{done: make(chan struct{})}
	s.inflight = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f.err = s.load()
		s.mu.Lock()
		if f.err != nil {
			s.failures++
		} else {
			s.failures = 0
		}
		s.mu.Unlock()
		close(f.done)
		if f.err == nil {
			// Only now, with no fetch in flight: a Refresh right after Ready
			// starts a fetch of its own rather than join this one, which may
			// predate the key it looks for.
			s.readyOnce.Do(func() { close(s.ready) })
		}
	}()
	return f
}

// load fetches (after discovery, when needed) and installs a new set. On
// failure the current set stays, and the error is reported.
func (s *RemoteKeySet) load() error {
	err := s.loadOnce()
	if err != nil {
		msg := "guard: remote key set: fetch failed; the last good keys stay in use"
		select {
		case <-s.ready:
		default:
			msg = "guard: remote key set: fetch failed; no keys yet, so tokens get 503 until a fetch succeeds"
		}
		s.log.Warn(msg, "source", s.source(), "error", err)
		if s.onError != nil {
			s.onError(err)
		}
	}
	return err
}

func (s *RemoteKeySet) source() string {
	if s.issuer != "" {
		return s.issuer
	}
	return redactURL(s.url)
}

func (s *RemoteKeySet) loadOnce() error {
	s.mu.Lock()
	u := s.jwksURL
	s.mu.Unlock()
	if u == "" {
		var err error
		u, err = discoverJWKSURI(s.base, s.client, s.issuer, s.maxBytes, s.timeout, s.insecure)
		if err != nil {
			return err
		}
	}
	body, maxAge, ok, err := fetchDocument(s.base, s.client, u, s.maxBytes, s.timeout)
	if err != nil {
		s.forgetDiscovery()
		return err
	}
	if !ok {
		maxAge = s.minFresh
	}
	snap := &remoteSnapshot{body: sha256.Sum256(body)}
	if prev := s.snap.Load(); prev != nil && prev.body == snap.body {
		// The same document again: keep its snapshot, so the verifiers'
		// header choices and cached tokens stay valid without a new check.
		snap.keys = prev.keys
	} else if snap.keys, err = s.parse(u, body); err != nil {
		return err
	}
	fresh := min(max(maxAge, s.minFresh), s.maxFresh)
	now := s.now()
	snap.fetched, snap.fresh, snap.expires = now, fresh, now.Add(fresh+s.maxStale)
	s.mu.Lock()
	s.jwksURL = u
	s.mu.Unlock()
	s.snap.Store(snap)
	s.log.Debug("guard: remote key set: keys loaded", "source", s.source(), "keys", snap.keys.Len(), "fresh_for", fresh)
	return nil
}

// parse reads a fetched JWK Set document into a snapshot, logging the keys
// it skips. A set with no usable key is an error.
func (s *RemoteKeySet) parse(u string, body []byte) (*KeySnapshot, error) {
	keys, skipped, err := ParseJWKSet(body)
	for _, e := range skipped {
		s.log.Warn("guard: remote key set: key skipped", "source", s.source(), "reason", e)
	}
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("%w: no usable key among %d skipped", ErrInvalidKeySet, len(skipped))
	}
	if err != nil {
		s.forgetDiscovery()
		return nil, fmt.Errorf("guard: %s: %w", redactURL(u), err)
	}
	ks, err := NewKeySnapshot(keys...)
	if err != nil { // ParseJWKSet has checked what NewKeySnapshot checks
		return nil, fmt.Errorf("guard: %s: %w: %w", redactURL(u), ErrInvalidKeySet, err)
	}
	return ks, nil
}

// forgetDiscovery makes the next fetch of an issuer's set discover its
// jwks_uri again.
func (s *RemoteKeySet) forgetDiscovery() {
	if s.issuer == "" {
		return
	}
	s.mu.Lock()
	s.jwksURL = ""
	s.mu.Unlock()
}

// current returns the set to verify with, or nil when none has loaded or
// the last one has been stale for longer than MaxStale.
func (s *RemoteKeySet) current() *remoteSnapshot {
	snap := s.snap.Load()
	if snap == nil || !s.now().Before(snap.expires) {
		return nil
	}
	return snap
}

// VerificationKeys returns the current keys, for a [Verifier]
// ([KeySource]). It does no I/O: one atomic load and a clock read. Before
// the first good fetch, before Start, and once the last good keys have been
// stale for longer than MaxStale, it returns an error wrapping
// [ErrKeysUnavailable], which the verifier answers 503
// temporarily_unavailable with Retry-After.
func (s *RemoteKeySet) VerificationKeys(ctx context.Context) (*KeySnapshot, error) {
	if snap := s.current(); snap != nil {
		return snap.keys, nil
	}
	if s.snap.Load() != nil {
		return nil, fmt.Errorf("%w: the keys of %s are stale beyond MaxStale", ErrKeysUnavailable, s.source())
	}
	return nil, fmt.Errorf("%w: the keys of %s have not loaded yet", ErrKeysUnavailable, s.source())
}

// Refresh is called by a [Verifier] for a token whose kid the current keys
// lack ([KeyRefresher]). It starts a fetch, or joins the one in flight,
// unless the last fetch started less than RefetchInterval ago (then it
// returns nil at once), and waits for it while ctx lasts. It returns the
// fetch's error, or ctx's. kid is not used: any fetch brings every key.
func (s *RemoteKeySet) Refresh(ctx context.Context, kid string) error {
	f := s.fetch(true)
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
