package guard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/guardkit/guard/internal/syntax"
)

// Limits of the verifier.
const (
	// DefaultMaxTokenBytes is the default cap on a token's length.
	DefaultMaxTokenBytes = 8 << 10
	// MaxLeeway is the largest clock-skew allowance a Verifier accepts.
	MaxLeeway = 5 * time.Minute
	// DefaultRealm is the realm of challenges when a config leaves Realm empty.
	DefaultRealm = "api"
	// DefaultMaxTokenLifetime is the longest token lifetime a Verifier
	// accepts when VerifierConfig.MaxTokenLifetime is zero.
	DefaultMaxTokenLifetime = 24 * time.Hour
)

// VerifierConfig configures a [Verifier]. The zero value is not usable:
// [NewVerifier] requires either at least one key in Keys or a KeySource. The
// config is copied; changing it afterwards has no effect.
type VerifierConfig struct {
	// Keys are static keys that verify tokens; set either Keys or KeySource,
	// not both. Each key allows exactly its own algorithm; a token
	// whose "kid" names no key is rejected, and one without a "kid" is
	// verified only by the one key of its algorithm, so a key without a kid
	// must be alone in its algorithm (NewVerifier refuses it otherwise). There
	// is never a fallback key. Private
	// keys are accepted; only their public half is used. A key bound with
	// [Key.ForIssuers] verifies only tokens whose "iss" it is bound to
	// (otherwise 401 invalid_token, [ErrInvalidIssuer]): with several
	// tenants, bind each tenant's key to its issuer.
	Keys []*Key
	// KeySource supplies the keys instead of Keys, snapshot by snapshot, so
	// keys can change (a rotating [KeySet], a remote JWKS) without building a
	// new Verifier. The rules of Keys apply to each snapshot; a key bound to an
	// issuer that Issuers does not accept never verifies anything (with Keys,
	// NewVerifier refuses it). When the source fails or has no keys yet,
	// requests get 503 temporarily_unavailable with Retry-After
	// ([ErrKeysUnavailable]); see [KeySource] and [KeyRefresher]. Default nil.
	KeySource KeySource
	// Issuers, when not empty, are the accepted "iss" values (any of). Empty:
	// "iss" is not checked.
	Issuers []string
	// Audiences, when not empty, are the accepted "aud" values: the token's
	// "aud" (a string or an array) must contain at least one. Empty: not checked.
	Audiences []string
	// Leeway is the allowed clock skew for exp, nbf and iat. Default 0; at most [MaxLeeway].
	Leeway time.Duration
	// MaxTokenLifetime bounds how long a token may live: its exp may lie at
	// most this far (plus Leeway) ahead of now, and when it has an iat,
	// exp - iat may be at most this. A token over the bound is refused (401
	// invalid_token, [ErrTokenLifetime]), so a mis-issued token, say with exp
	// in year 9999, does not stay valid for ever. Default
	// [DefaultMaxTokenLifetime] (24 hours); raise it for longer-lived tokens.
	// It must not be negative.
	MaxTokenLifetime time.Duration
	// RequireAccessTokenType accepts only tokens whose header "typ" is
	// "at+jwt" (RFC 9068 §2.1). Default false: "JWT", "at+jwt" or no "typ".
	RequireAccessTokenType bool
	// MaxTokenBytes caps the token length, checked before any decoding.
	// Default [DefaultMaxTokenBytes] (8 KiB).
	MaxTokenBytes int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// CacheSize, when positive, enables a cache of that many verified
	// asymmetric (RS*, PS*, ES*, EdDSA) tokens, each found by a keyed hash
	// of the whole token and holding a copy of it, which a hit compares in
	// full, so a token seen again skips its signature check; exp, nbf and
	// iat are still checked on every use, so an entry never outlives its
	// token. With a KeySource, a hit also needs the key
	// that verified the token in the source's current keys: a key that
	// leaves a KeySet (Remove, or the end of its retirement) or is withdrawn
	// from a remote JWKS stops vouching for its cached tokens at once. HMAC tokens are never cached: their check is
	// cheaper than the lookup. Default 0: no cache.
	CacheSize int
	// Revocations, when set, is asked after the signature and claims checks
	// whether the token was revoked (its jti, or its subject): a revoked
	// token gets 401 invalid_token ([ErrTokenRevoked]); a failing checker
	// gets 503 temporarily_unavailable with Retry-After (fail closed).
	// Default nil: no check, at no cost.
	Revocations RevocationChecker

	// Realm is the realm of WWW-Authenticate challenges. Default [DefaultRealm].
	Realm string
	// ErrorWriter writes failed requests of RequireBearer. Default [WriteError].
	ErrorWriter ErrorWriter
	// DangerouslyAllowQueryToken also accepts the token in the "access_token"
	// query parameter (RFC 6750 §2.3), where it ends up in logs and browser
	// history. Responses to such requests carry Cache-Control: no-store.
	// Default false.
	DangerouslyAllowQueryToken bool

	// DPoP, when set, also accepts DPoP-bound tokens (RFC 9449): with
	// "Authorization: DPoP <token>" and a proof checked by it, whose key
	// must be the one the token's cnf.jkt names. See [Verifier.RequireDPoP].
	// A token with a cnf presented as Bearer is refused (401 invalid_token)
	// with or without DPoP. Default nil: only bearer tokens.
	DPoP *DPoP
	// DPoPMode says which tokens RequireBearer admits when DPoP is set:
	// [DPoPAllowed] (the default) admits unbound tokens as Bearer and bound
	// ones as DPoP, and challenges with both schemes; [DPoPRequired] admits
	// only DPoP-bound tokens and challenges with DPoP alone.
	DPoPMode DPoPMode
	// ResourceMetadata is the URL of the service's protected resource
	// metadata (RFC 9728, see [ProtectedResourceMetadataURL]); when set,
	// every 401 challenge carries it as resource_metadata="…" (RFC 9728
	// §5.1), so a client can discover the authorization server. It must be
	// an absolute https URL (http only for loopback hosts). Default "".
	ResourceMetadata string
}

// Verifier verifies JWT access tokens and guards handlers with them. It is
// immutable after [NewVerifier] and safe for concurrent use.
//
// A Verifier not built by NewVerifier (the zero value, or a nil pointer)
// has no keys and admits nothing: Verify and Authenticate return an
// *[Error] with status 500 that matches neither [ErrInvalidToken] nor
// [ErrNoCredentials] (the fault is the server's), and RequireBearer answers
// every request 500 server_error through [WriteError] without calling next.
type Verifier struct {
	static      *KeySnapshot // from Keys; nil with a KeySource
	source      KeySource
	refresher   KeyRefresher // source's, when it implements it
	issuers     []string
	audiences   []string
	leeway      time.Duration
	maxLife     float64 // seconds
	strictTyp   bool
	maxLen      int
	now         func() time.Time
	writeError  ErrorWriter
	allowQuery  bool
	cache       *tokenCache
	errs        verifierErrors
	revocations RevocationChecker
	// tokenRevocations is revocations when it needs the token itself.
	tokenRevocations TokenRevocationChecker
	errRevoked       *Error
	dpop             *dpopVerifier // nil without VerifierConfig.DPoP
}

// verifierErrors are the verifier's failures, built once with its realm.
type verifierErrors struct {
	noCredentials, invalidRequest, twoCredentials                             *Error
	malformed, tooLarge, signature, alg, kid, crit, typ                       *Error
	expired, notYet, issued, issuer, audience, missingExp, missingSub, claims *Error
	lifetime, keysUnavailable                                                 *Error
	bound                                                                     *Error // a cnf token presented as Bearer
}

// NewVerifier validates cfg and returns a Verifier. It reports every problem
// at once: neither Keys nor KeySource, or both; a nil or zero key, two keys
// with the same kid, a key without a kid beside another key of its
// algorithm, one key material offered for two algorithms, a key bound
// to no issuer, to an empty one or to one Issuers does not accept; a leeway
// outside [0, 5m], a negative MaxTokenLifetime, a negative size cap.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var errs []error
	v := &Verifier{
		source:     cfg.KeySource,
		issuers:    append([]string(nil), cfg.Issuers...),
		audiences:  append([]string(nil), cfg.Audiences...),
		leeway:     cfg.Leeway,
		strictTyp:  cfg.RequireAccessTokenType,
		maxLen:     cfg.MaxTokenBytes,
		now:        cfg.Now,
		writeError: writerOrDefault(cfg.ErrorWriter),
		allowQuery: cfg.DangerouslyAllowQueryToken,
	}
	switch {
	case cfg.KeySource != nil && len(cfg.Keys) > 0:
		errs = append(errs, errors.New("guard: VerifierConfig has both Keys and KeySource; set one"))
	case cfg.KeySource != nil:
		v.refresher, _ = cfg.KeySource.(KeyRefresher)
	case len(cfg.Keys) == 0:
		errs = append(errs, errors.New("guard: VerifierConfig.Keys is empty and KeySource is nil"))
	default:
		for i, k := range cfg.Keys {
			if k == nil || !k.usable() {
				continue // NewKeySnapshot reports it
			}
			if k.bound && len(k.issuers) == 0 {
				errs = append(errs, fmt.Errorf("guard: VerifierConfig.Keys[%d] %v is bound to no issuer", i, k))
			}
			for _, iss := range k.issuers {
				if iss == "" {
					errs = append(errs, fmt.Errorf("guard: VerifierConfig.Keys[%d] %v is bound to an empty issuer", i, k))
				} else if len(cfg.Issuers) > 0 && !slices.Contains(cfg.Issuers, iss) {
					errs = append(errs, fmt.Errorf("guard: VerifierConfig.Keys[%d] %v is bound to issuer %q, which Issuers does not accept", i, k, iss))
				}
			}
		}
		s, err := newKeySnapshot("VerifierConfig.Keys", cfg.Keys)
		if err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, kidlessConflicts("VerifierConfig.Keys", cfg.Keys)...)
		v.static = s
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("guard: Leeway %v is outside [0, %v]", cfg.Leeway, MaxLeeway))
	}
	if cfg.MaxTokenLifetime < 0 {
		errs = append(errs, fmt.Errorf("guard: MaxTokenLifetime %v is negative", cfg.MaxTokenLifetime))
	}
	if cfg.CacheSize < 0 {
		errs = append(errs, errors.New("guard: CacheSize is negative"))
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	if cfg.MaxTokenBytes < 0 {
		errs = append(errs, errors.New("guard: MaxTokenBytes is negative"))
	}
	for _, s := range cfg.Issuers {
		if s == "" {
			errs = append(errs, errors.New("guard: an empty issuer is listed"))
		}
	}
	for _, s := range cfg.Audiences {
		if s == "" {
			errs = append(errs, errors.New("guard: an empty audience is listed"))
		}
	}
	errs = append(errs, checkDPoPConfig(&cfg)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if v.maxLen == 0 {
		v.maxLen = DefaultMaxTokenBytes
	}
	v.maxLife = cmp.Or(cfg.MaxTokenLifetime, DefaultMaxTokenLifetime).Seconds()
	if v.now == nil {
		v.now = time.Now
	}
	realm := cfg.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	ch, scheme := v.setDPoP(&cfg, realm)
	v.errs = newVerifierErrors(ch, scheme)
	v.setRevocations(cfg.Revocations, ch, scheme)
	return v, nil
}

// errZeroVerifier answers every use of a Verifier not built by NewVerifier.
var errZeroVerifier = prerender(&Error{
	Status:      http.StatusInternalServerError,
	Code:        "server_error",
	Description: "verifier not configured",
	Err:         errors.New("guard: Verifier used without NewVerifier"),
})

// newVerifierErrors builds the errors with challenges ch, whose scheme
// ("" for Bearer) gets the error parameters.
func newVerifierErrors(ch []string, scheme string) verifierErrors {
	invalid := func(desc string, cause error) *Error {
		return prerender(&Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Challenges: ch, Err: cause, paramScheme: scheme})
	}
	return verifierErrors{
		noCredentials:  prerender(&Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: ch, Err: ErrNoCredentials}),
		invalidRequest: prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed Authorization header", Challenges: ch, paramScheme: scheme}),
		twoCredentials: prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: ch, paramScheme: scheme}),
		malformed:      invalid("malformed token", ErrMalformedToken),
		tooLarge:       invalid("token too large", ErrTokenTooLarge),
		signature:      invalid("invalid signature", ErrInvalidSignature),
		alg:            invalid("algorithm not allowed", ErrAlgorithm),
		kid:            invalid("unknown signing key", ErrUnknownKey),
		crit:           invalid("unsupported critical header", ErrMalformedToken),
		typ:            invalid("token type not accepted", ErrMalformedToken),
		expired:        invalid("token expired", ErrTokenExpired),
		notYet:         invalid("token not yet valid", ErrTokenNotYetValid),
		issued:         invalid("token issued in the future", ErrTokenNotYetValid),
		issuer:         invalid("issuer not accepted", ErrInvalidIssuer),
		audience:       invalid("audience not accepted", ErrInvalidAudience),
		missingExp:     invalid("exp claim required", ErrMissingClaim),
		missingSub:     invalid("sub claim required", ErrMissingClaim),
		claims:         invalid("malformed claims", ErrMalformedToken),
		lifetime:       invalid("token lifetime too long", ErrTokenLifetime),
		bound:          invalid("sender-constrained token presented as bearer", errBoundAsBearer),
		keysUnavailable: prerender(&Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "verification keys unavailable; retry later", RetryAfter: 5 * time.Second, Err: ErrKeysUnavailable}),
	}
}

func bearerChallenge(realm string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	syntax.WriteQuotedSafe(&b, realm)
	b.WriteByte('"')
	return b.String()
}

// jwsHeader is the JOSE header. Members not named here (jku, x5u, jwk, x5c,
// …) are ignored: keys come only from the configuration.
type jwsHeader struct {
	Alg  string         `json:"alg"`
	Kid  string         `json:"kid,omitzero"`
	Typ  string         `json:"typ,omitzero"`
	Crit jsontext.Value `json:"crit,omitzero"`
}

// splitToken checks the compact form: three segments, none empty but the
// signature's (whose length the key checks). It returns the positions of the
// two dots. Each segment is later decoded with strict base64url, which
// rejects every other character except CR and LF (Go's decoder skips them),
// so those two are refused here.
func splitToken(token string) (dot1, dot2 int, ok bool) {
	dot1 = strings.IndexByte(token, '.')
	if dot1 <= 0 {
		return 0, 0, false
	}
	i := strings.IndexByte(token[dot1+1:], '.')
	if i <= 0 {
		return 0, 0, false
	}
	dot2 = dot1 + 1 + i
	if dot2 >= len(token)-1 || strings.IndexByte(token[dot2+1:], '.') >= 0 ||
		strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return 0, 0, false
	}
	return dot1, dot2, true
}

// Verify checks token and returns its claims. The steps, each failing closed
// with an *[Error] matching [ErrInvalidToken] and a detail sentinel: length
// cap ([ErrTokenTooLarge]) before any decoding; compact form with strict
// base64url ([ErrMalformedToken]); header with a known "alg" and "kid"
// ([ErrAlgorithm], [ErrUnknownKey]), no "crit", an accepted "typ"; the
// signature ([ErrInvalidSignature]) before the claims are decoded; then the
// claims: exp required ([ErrTokenExpired]) and within MaxTokenLifetime
// ([ErrTokenLifetime]), nbf and iat with the leeway ([ErrTokenNotYetValid]),
// iss when configured or when the key is bound to issuers ([ErrInvalidIssuer]),
// aud when configured, sub required; then, when Revocations is set, the
// revocation check ([ErrTokenRevoked], or 503 when the checker fails).
//
// With static Keys, Verify does no I/O. With a KeySource, ctx is passed to
// it (and to its Refresh on an unknown kid); when it has no keys, Verify
// returns an *Error with status 503 matching [ErrKeysUnavailable], unless
// the token's header alone refuses it (malformed, crit, typ, unknown alg).
// ctx is also passed to the revocation checker, when one is configured.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if v == nil || v.now == nil {
		return nil, errZeroVerifier
	}
	pc, err := v.verifyAndCheck(ctx, token)
	if err != nil {
		return nil, err
	}
	return &pc.c, nil
}

// verify checks token and returns its claims in a new principalCtx (whose
// Context and principal the caller sets, when it needs them).
func (v *Verifier) verify(ctx context.Context, token string) (*principalCtx, error) {
	if v.cache == nil {
		payload, k, err := v.verifySignature(ctx, token)
		if err != nil {
			return nil, err
		}
		return v.checkClaims(payload, k, nil)
	}
	if len(token) > v.maxLen {
		return nil, v.errs.tooLarge
	}
	key := v.cache.key(token)
	if e, ok := v.cache.get(key, token); ok {
		if err := v.checkTimes(e.exp, e.nbf, e.iat); err != nil {
			v.cache.remove(key, e)
			return nil, err
		}
		current, err := v.keyStillServed(ctx, e.key)
		if err != nil {
			return nil, err
		}
		if current {
			pc := new(principalCtx)
			copyClaims(&pc.c, &e.claims) // the request gets its own slices
			return pc, nil
		}
		v.cache.remove(key, e) // its key changed or left: verify the token again
	}
	payload, k, err := v.verifySignature(ctx, token)
	if err != nil {
		return nil, err
	}
	if k.hmac != nil {
		return v.checkClaims(payload, k, nil) // an HMAC is cheaper than a cache lookup
	}
	e := &cachedToken{key: k, token: strings.Clone(token)}
	pc, err := v.checkClaims(payload, k, e)
	if err != nil {
		return nil, err
	}
	copyClaims(&e.claims, &pc.c) // the entry keeps its own slices
	v.cache.put(key, e, v.now())
	return pc, nil
}

// keyStillServed reports whether k, the key that verified a cached token,
// is still in the verifier's keys. Static keys never change. A KeySource's
// current snapshot must hold k itself: a key that left it (removed, past its
// retirement, withdrawn from a remote JWKS) stops vouching for cached tokens
// at once. A KeySet hands out the same *Key for a key in every snapshot, and
// a RemoteKeySet keeps its snapshot while the document is unchanged, so
// their routine changes keep the cache; a changed remote document makes its
// cached tokens verify once more. A source without keys fails closed, as on
// a miss.
func (v *Verifier) keyStillServed(ctx context.Context, k *Key) (bool, error) {
	if v.static != nil {
		return true, nil
	}
	snap, err := v.snapshot(ctx)
	if err != nil {
		return false, err
	}
	return snap.holds(k), nil
}

// verifySignature runs the JWS layer of Verify: size cap, compact form,
// header, key choice and signature. It returns the payload segment, not yet
// decoded. It knows nothing about claims.
func (v *Verifier) verifySignature(ctx context.Context, token string) (payload string, k *Key, err error) {
	if len(token) > v.maxLen {
		return "", nil, v.errs.tooLarge
	}
	dot1, dot2, ok := splitToken(token)
	if !ok {
		return "", nil, v.errs.malformed
	}
	snap := v.static
	if snap == nil {
		if snap, err = v.snapshot(ctx); err != nil {
			// No keys to try: a token that could never verify still gets
			// its 401, and only a well-formed one the 503.
			if _, herr := v.parseHeader(token[:dot1]); herr != nil {
				return "", nil, herr
			}
			return "", nil, err
		}
	}
	header := token[:dot1]
	k, cached := snap.headers.get(header)
	if !cached {
		if k, snap, err = v.keyFor(ctx, snap, header); err != nil {
			return "", nil, err
		}
	}
	if err := v.checkSignature(k, token[:dot2], token[dot2+1:]); err != nil {
		return "", nil, err
	}
	if !cached {
		// Only headers of tokens that verified enter the cache: an attacker
		// without a key cannot fill it with made-up headers.
		snap.headers.put(header, k)
	}
	return token[dot1+1 : dot2], k, nil
}

// checkSignature checks the signature segment sigSeg over signingInput
// with k, without copying either: nil, or the error of a signature that is
// too long or wrong ([ErrInvalidSignature]) or not base64url
// ([ErrMalformedToken]).
func (v *Verifier) checkSignature(k *Key, signingInput, sigSeg string) error {
	n := b64.DecodedLen(len(sigSeg))
	if n > maxSignatureBytes {
		return v.errs.signature
	}
	var ok, malformed bool
	if k.hmac != nil && n == k.hmac.size {
		ok, malformed = k.hmac.equalSegment(bytesOf(signingInput), bytesOf(sigSeg))
	} else {
		sc := getScratch()
		sig := sc.grow(n)
		n, err := b64.Decode(sig, bytesOf(sigSeg))
		ok, malformed = err == nil && k.verify(signingInput, sig[:n]), err != nil
		putScratch(sc)
	}
	switch {
	case malformed:
		return v.errs.malformed
	case !ok:
		return v.errs.signature
	}
	return nil
}

// snapshot asks the key source for its current keys.
func (v *Verifier) snapshot(ctx context.Context) (*KeySnapshot, error) {
	if v.source == nil {
		return nil, errZeroVerifier
	}
	snap, err := v.source.VerificationKeys(ctx)
	if err != nil || snap == nil {
		if err == nil {
			err = ErrKeysUnavailable
		}
		if !errors.Is(err, ErrKeysUnavailable) {
			err = fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		return nil, v.errs.keysUnavailable.withCause(err)
	}
	return snap, nil
}

// keyFor decodes the header segment and picks the one key of snap that may
// verify it. On an unknown kid it asks a refreshing source once for new keys
// and returns the snapshot the key came from.
func (v *Verifier) keyFor(ctx context.Context, snap *KeySnapshot, seg string) (*Key, *KeySnapshot, error) {
	h, err := v.parseHeader(seg)
	if err != nil {
		return nil, nil, err
	}
	alg := Algorithm(h.Alg)
	k, miss := snap.lookup(h.Kid, alg)
	if miss == lookupKID && v.refresher != nil {
		if v.refresher.Refresh(ctx, h.Kid) == nil {
			if s, err := v.snapshot(ctx); err == nil {
				snap = s
				k, miss = snap.lookup(h.Kid, alg)
			}
		}
	}
	switch miss {
	case lookupKID, lookupAmbiguous:
		return nil, nil, v.errs.kid
	case lookupAlg:
		return nil, nil, v.errs.alg
	}
	return k, snap, nil
}

// parseHeader decodes a header segment and applies the rules that need no
// key: well-formed, no crit, an accepted typ. An alg no key could have is
// refused here too ([ErrAlgorithm]); whether a key has it is keyFor's call.
func (v *Verifier) parseHeader(seg string) (jwsHeader, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return jwsHeader{}, v.errs.malformed
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return jwsHeader{}, v.errs.malformed
	}
	if len(h.Crit) > 0 {
		return jwsHeader{}, v.errs.crit
	}
	if !v.typAccepted(h.Typ) {
		return jwsHeader{}, v.errs.typ
	}
	if !Algorithm(h.Alg).Valid() {
		return jwsHeader{}, v.errs.alg
	}
	return h, nil
}

func (v *Verifier) typAccepted(typ string) bool {
	if typ == "" {
		return !v.strictTyp
	}
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	if typ == "at+jwt" {
		return true
	}
	return typ == "jwt" && !v.strictTyp
}

// maxSignatureBytes is the longest signature accepted: RSA-4096.
const maxSignatureBytes = 512

// scratch is per-verification working memory, pooled so that a verification
// allocates only what it returns.
type scratch struct {
	buf []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.buf) > DefaultMaxTokenBytes {
		return // an unusually large token; let it go rather than pin it
	}
	scratchPool.Put(sc)
}

// grow returns sc.buf resized to n bytes.
func (sc *scratch) grow(n int) []byte {
	if cap(sc.buf) < n {
		sc.buf = make([]byte, n, max(n, 1024))
	}
	return sc.buf[:n]
}

// headerCache remembers the key chosen for a header segment once a token
// with that header has passed the signature check. Real traffic has a handful of distinct headers (one per
// issuer key); the cache holds at most 16 and stops growing when full, so an
// attacker's made-up headers can neither evict nor grow it. Caching is sound
// because the choice depends only on the header bytes and the immutable
// configuration. Reads take no lock.
type headerCache struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*Key]
}

const headerCacheSize = 16

func (c *headerCache) get(seg string) (*Key, bool) {
	m := c.m.Load()
	if m == nil {
		return nil, false
	}
	k, ok := (*m)[seg]
	return k, ok
}

func (c *headerCache) put(seg string, k *Key) {
	if len(seg) > 512 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[string]*Key
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if len(old) >= headerCacheSize {
		return
	}
	m := maps.Clone(old)
	if m == nil {
		m = map[string]*Key{}
	}
	m[strings.Clone(seg)] = k
	c.m.Store(&m)
}
