package guard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guardkit/guard/internal/syntax"
)

const (
	// apiKeyRandomLen base62 characters of randomness: 30 × log2(62) ≈ 178 bits.
	apiKeyRandomLen = 30
	// apiKeyChecksumLen base62 characters hold a CRC-32 (62^6 > 2^32).
	apiKeyChecksumLen = 6
	// apiKeyBodyLen is what follows "<prefix>_".
	apiKeyBodyLen = apiKeyRandomLen + apiKeyChecksumLen
	// maxAPIKeyPrefixLen bounds the prefix of generated keys.
	maxAPIKeyPrefixLen = 16
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// GenerateAPIKey returns a new random API key and its SHA-256 digest.
//
// The key has the form <prefix>_<30 base62 characters of randomness, about
// 178 bits><6 base62 characters of CRC-32 checksum>, for example
// "gk_4pT1qX…3bYd0Q". The prefix makes keys recognisable to secret scanners
// and to [APIKeyAuthConfig].Prefix; the checksum lets the middleware reject
// mistyped or truncated keys before any store lookup. prefix must be 1 to 16
// characters of [a-z0-9]; otherwise GenerateAPIKey returns an error.
//
// Store only the digest (see [MemoryAPIKeys.Add]) and show the key to its
// owner once: the key is a [Secret], which prints and logs as REDACTED, so
// only an explicit string(key) reveals it. GenerateAPIKey is safe for concurrent use. The error is non-nil
// only for a bad prefix (crypto/rand does not fail on supported platforms).
func GenerateAPIKey(prefix string) (key Secret, digest [32]byte, err error) {
	if err := validateAPIKeyPrefix(prefix); err != nil {
		return "", digest, err
	}
	b := make([]byte, 0, len(prefix)+1+apiKeyBodyLen)
	b = append(b, prefix...)
	b = append(b, '_')
	var buf [64]byte
	for n := 0; n < apiKeyRandomLen; {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", digest, fmt.Errorf("guard: reading random bytes: %w", err)
		}
		for _, c := range buf {
			// Rejection sampling: 248 = 4 × 62, so c%62 is uniform below it.
			if c >= 248 {
				continue
			}
			b = append(b, base62Alphabet[c%62])
			if n++; n == apiKeyRandomLen {
				break
			}
		}
	}
	b = appendBase62Checksum(b, crc32.ChecksumIEEE(b))
	return Secret(b), sha256.Sum256(b), nil
}

// APIKeyDigest returns the SHA-256 digest of key, the value an [APIKeyStore]
// is indexed by. Use it to register keys that were not made by
// [GenerateAPIKey], such as an existing deployment's demo key.
func APIKeyDigest(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func validateAPIKeyPrefix(prefix string) error {
	if prefix == "" || len(prefix) > maxAPIKeyPrefixLen {
		return fmt.Errorf("guard: API key prefix must be 1 to %d characters, got %d", maxAPIKeyPrefixLen, len(prefix))
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("guard: API key prefix %q may only contain [a-z0-9]", prefix)
		}
	}
	return nil
}

// appendBase62Checksum appends sum as exactly six base62 digits, most
// significant first.
func appendBase62Checksum(b []byte, sum uint32) []byte {
	var d [apiKeyChecksumLen]byte
	v := uint64(sum)
	for i := apiKeyChecksumLen - 1; i >= 0; i-- {
		d[i] = base62Alphabet[v%62]
		v /= 62
	}
	return append(b, d[:]...)
}

func base62Value(c byte) (uint64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0'), true
	case c >= 'A' && c <= 'Z':
		return uint64(c-'A') + 10, true
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 36, true
	}
	return 0, false
}

// apiKeyFormat classifies key against prefix. ours reports whether the key
// claims our format (it starts with "<prefix>_"); valid reports whether it is
// then well formed: the right length, base62 only, and a matching checksum.
// A key that is not ours is left to the store.
func apiKeyFormat(prefix, key string) (ours, valid bool) {
	if prefix == "" || len(key) <= len(prefix) || key[len(prefix)] != '_' || key[:len(prefix)] != prefix {
		return false, false
	}
	body := key[len(prefix)+1:]
	if len(body) != apiKeyBodyLen {
		return true, false
	}
	for i := 0; i < apiKeyRandomLen; i++ {
		if _, ok := base62Value(body[i]); !ok {
			return true, false
		}
	}
	var got uint64
	for i := apiKeyRandomLen; i < apiKeyBodyLen; i++ {
		v, ok := base62Value(body[i])
		if !ok {
			return true, false
		}
		got = got*62 + v
	}
	want := crc32.ChecksumIEEE([]byte(key[:len(key)-apiKeyChecksumLen]))
	return true, got == uint64(want)
}

// APIKeyRecord is what an [APIKeyStore] knows about one key: whom it
// authenticates and whether it is still good. Roles and Scopes become the
// [Principal]'s and must not be modified once stored.
type APIKeyRecord struct {
	// Subject identifies the key's owner; it becomes Principal.Subject.
	Subject string
	// Roles granted to requests made with this key.
	Roles []string
	// Scopes granted to requests made with this key.
	Scopes []string
	// ExpiresAt is when the key stops working; the zero time means never.
	// A key is rejected from ExpiresAt on (the instant itself included).
	ExpiresAt time.Time
	// Revoked keys are rejected.
	Revoked bool
}

// APIKeyStore looks API keys up by the SHA-256 digest of the key (see
// [APIKeyDigest]); stores never see or hold plaintext keys.
//
// LookupAPIKey returns the record, an error matching [ErrNotFound]
// when no key has the digest, or any other error when the backend fails
// (the middleware then answers 503 temporarily_unavailable with Retry-After, failing closed). The middleware, not the
// store, checks Revoked and ExpiresAt. Implementations must be safe for
// concurrent use; a lookup should take constant time in the number of keys.
type APIKeyStore interface {
	LookupAPIKey(ctx context.Context, digest [32]byte) (APIKeyRecord, error)
}

// MemoryAPIKeys is an in-memory [APIKeyStore]. Its zero value is an empty
// store ready to use. It is safe for concurrent use by multiple goroutines and
// built for read-mostly traffic: lookups take no lock (a [sync.Map] keyed by
// digest), so they neither contend with each other nor grow with the number
// of keys; Add and Revoke cost O(1) too, so rotating one key in a million
// does not copy the table. A MemoryAPIKeys must not be copied after first use.
//
// A principal may own several active keys at once (add the new one, then
// revoke the old one once clients have switched).
type MemoryAPIKeys struct {
	m sync.Map // [32]byte -> *APIKeyRecord, never mutated once stored
}

// Add stores rec under digest (see [APIKeyDigest], [GenerateAPIKey]),
// replacing any record with the same digest. rec and its slices are copied.
// It takes effect for the next lookup.
func (s *MemoryAPIKeys) Add(digest [32]byte, rec APIKeyRecord) {
	rec.Roles = slices.Clip(slices.Clone(rec.Roles))
	rec.Scopes = slices.Clip(slices.Clone(rec.Scopes))
	s.m.Store(digest, &rec)
}

// Revoke marks the key with this digest revoked, so the next request made
// with it is rejected with 401. It reports whether the key was known. The
// record is kept so that logs can tell a revoked key from an unknown one;
// use [MemoryAPIKeys.Delete] to forget it.
func (s *MemoryAPIKeys) Revoke(digest [32]byte) bool {
	for {
		v, ok := s.m.Load(digest)
		if !ok {
			return false
		}
		old := v.(*APIKeyRecord)
		if old.Revoked {
			return true
		}
		rec := *old
		rec.Revoked = true
		if s.m.CompareAndSwap(digest, old, &rec) {
			return true
		}
	}
}

// Delete forgets the key with this digest; later requests with it are
// answered like any unknown key (401). It reports whether the key was known.
func (s *MemoryAPIKeys) Delete(digest [32]byte) bool {
	_, ok := s.m.LoadAndDelete(digest)
	return ok
}

// LookupAPIKey implements [APIKeyStore]. It returns an error matching
// [ErrNotFound] for an unknown digest and never fails otherwise.
func (s *MemoryAPIKeys) LookupAPIKey(_ context.Context, digest [32]byte) (APIKeyRecord, error) {
	v, ok := s.m.Load(digest)
	if !ok {
		return APIKeyRecord{}, ErrNotFound
	}
	return *v.(*APIKeyRecord), nil
}

// APIKeyAuthConfig configures [NewAPIKeyAuth]. It is copied by the constructor;
// changing it afterwards has no effect.
type APIKeyAuthConfig struct {
	// Store looks keys up by digest. Required.
	Store APIKeyStore
	// Header is the request header that carries the key. Default "X-API-Key".
	Header string
	// DangerouslyAllowQuery also accepts the key from the URL query parameter
	// QueryParam. Keys in URLs end up in access logs, browser history, proxies
	// and Referer headers; enable it only for clients that cannot send
	// headers. Every response to a request carrying the parameter gets
	// Cache-Control: no-store and Referrer-Policy: no-referrer. Default false.
	DangerouslyAllowQuery bool
	// QueryParam names the query parameter read when DangerouslyAllowQuery is
	// set. Default "api_key".
	QueryParam string
	// DangerouslyAllowCookie also accepts the key from the cookie named
	// CookieName. Browsers attach cookies to cross-site requests, so
	// cookie-borne credentials need CSRF protection (for example
	// http.CrossOriginProtection). Default false.
	DangerouslyAllowCookie bool
	// CookieName names the cookie read when DangerouslyAllowCookie is set.
	// Default "api_key".
	CookieName string
	// Prefix, when not empty, is the prefix of keys made by [GenerateAPIKey].
	// A key that starts with Prefix+"_" must then be well formed (length,
	// alphabet, checksum) or it is rejected with 401 before the store is
	// asked. Keys without that prefix go straight to the store, so keys of
	// another format can still be registered by digest. Default "" (no
	// format check).
	Prefix string
	// Realm is the realm of the WWW-Authenticate challenge. Default "api".
	Realm string
	// MaxKeyLength is the longest key accepted, in bytes; longer keys are
	// rejected with 401 without being hashed. Default 256.
	MaxKeyLength int
	// Now returns the current time, for expiry checks. Default time.Now.
	Now func() time.Time
	// ErrorWriter writes failures. Default [WriteError]. The *Error values it
	// receives may be shared between requests and must not be modified.
	ErrorWriter ErrorWriter
}

// APIKeyAuth authenticates requests by API key. Create it with
// [NewAPIKeyAuth]; the zero value is not usable. It is safe for concurrent
// use by multiple goroutines.
type APIKeyAuth struct {
	store      APIKeyStore
	header     string // canonical
	headerName string // as configured, for the OpenAPI description
	query      string // "" when query keys are off
	cookie     string
	prefix     string
	maxLen     int
	now        func() time.Time
	writeError ErrorWriter

	// Precomputed failures; their Err fields carry the sentinel for errors.Is.
	errMissing   *Error
	errMultiple  *Error
	errEmpty     *Error
	errMalformed *Error
	errTooLong   *Error
	errFormat    *Error
	errUnknown   *Error
	errRevoked   *Error
	errExpired   *Error
}

// NewAPIKeyAuth returns an API key authenticator for cfg, or an error listing
// every problem with cfg (no Store, a header, parameter or cookie name that is
// not an HTTP token, a Prefix GenerateAPIKey would refuse, a Realm with quotes
// or control characters, a negative MaxKeyLength).
//
// The challenge sent with every 401 is
//
//	WWW-Authenticate: ApiKey realm="<Realm>", header="<Header>"
//
// with error="invalid_token" (or error="invalid_request" on a 400) added when
// a key was presented, mirroring RFC 6750 §3.
func NewAPIKeyAuth(cfg APIKeyAuthConfig) (*APIKeyAuth, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("guard: APIKeyAuthConfig.Store is required"))
	}
	header := cfg.Header
	if header == "" {
		header = "X-API-Key"
	}
	if !syntax.IsToken(header) {
		errs = append(errs, fmt.Errorf("guard: APIKeyAuthConfig.Header %q is not a valid header name", header))
	}
	query, err := optionalSource(cfg.DangerouslyAllowQuery, cfg.QueryParam, "QueryParam", "DangerouslyAllowQuery")
	if err != nil {
		errs = append(errs, err)
	}
	cookie, err := optionalSource(cfg.DangerouslyAllowCookie, cfg.CookieName, "CookieName", "DangerouslyAllowCookie")
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Prefix != "" {
		if err := validateAPIKeyPrefix(cfg.Prefix); err != nil {
			errs = append(errs, err)
		}
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "api"
	}
	if !syntax.IsQuotable(realm) {
		errs = append(errs, fmt.Errorf("guard: APIKeyAuthConfig.Realm %q must be printable ASCII without quotes or backslashes", realm))
	}
	maxLen := cfg.MaxKeyLength
	if maxLen == 0 {
		maxLen = 256
	}
	if maxLen < 0 {
		errs = append(errs, fmt.Errorf("guard: APIKeyAuthConfig.MaxKeyLength %d is negative", maxLen))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &APIKeyAuth{
		store:      cfg.Store,
		header:     http.CanonicalHeaderKey(header),
		headerName: header,
		query:      query,
		cookie:     cookie,
		prefix:     cfg.Prefix,
		maxLen:     maxLen,
		now:        now,
		writeError: writerOrDefault(cfg.ErrorWriter),
	}
	base := `ApiKey realm="` + realm + `", header="` + header + `"`
	bare := []string{base}
	invalid := []string{base + `, error="invalid_token"`}
	malformed := []string{base + `, error="invalid_request"`}
	unauthorized := func(desc, detail string) *Error {
		return prerender(&Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc,
			Challenges: invalid, Err: fmt.Errorf("%w: %s", ErrInvalidAPIKey, detail)})
	}
	a.errMissing = prerender(&Error{Status: http.StatusUnauthorized, Description: "API key required", Challenges: bare, Err: ErrNoCredentials})
	a.errMultiple = prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one API key",
		Challenges: malformed, Err: fmt.Errorf("%w: more than one API key in the request", ErrInvalidRequest)})
	a.errEmpty = prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "empty API key",
		Challenges: malformed, Err: fmt.Errorf("%w: empty API key", ErrInvalidRequest)})
	a.errMalformed = prerender(&Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed API key parameter",
		Challenges: malformed, Err: fmt.Errorf("%w: bad percent-encoding in the API key parameter", ErrInvalidRequest)})
	a.errTooLong = unauthorized("invalid API key", "key longer than MaxKeyLength")
	a.errFormat = unauthorized("invalid API key", "malformed key or bad checksum")
	a.errUnknown = unauthorized("invalid API key", "unknown key")
	a.errRevoked = unauthorized("invalid API key", "revoked key")
	a.errExpired = unauthorized("API key expired", "expired key")
	return a, nil
}

// optionalSource resolves an opt-in key source (query parameter or cookie):
// "" when it is off, else its name (default "api_key"), which must be an
// RFC 9110 token. Naming a source without enabling it is an error, since it
// suggests the caller believes it is on.
func optionalSource(enabled bool, name, field, flag string) (string, error) {
	if !enabled {
		if name != "" {
			return "", fmt.Errorf("guard: APIKeyAuthConfig.%s is set but %s is false", field, flag)
		}
		return "", nil
	}
	if name == "" {
		name = "api_key"
	}
	if !syntax.IsToken(name) {
		return "", fmt.Errorf("guard: APIKeyAuthConfig.%s %q is not a valid name", field, name)
	}
	return name, nil
}

// Authenticate reads the API key of r and looks it up. It returns:
//   - (nil, err) with err matching [ErrNoCredentials] (a 401 *[Error] with a
//     bare challenge) when r carries no key in any enabled place;
//   - (principal, nil) for a known, unrevoked, unexpired key, with Method
//     [MethodAPIKey];
//   - (nil, *[Error]) otherwise: 400 invalid_request ([ErrInvalidRequest])
//     for several keys or an empty one; 401 invalid_token ([ErrInvalidAPIKey]
//     and [ErrInvalidToken]) for an unknown, revoked, expired, malformed or
//     oversized key; 503 temporarily_unavailable with Retry-After when the store fails.
//
// Authenticate does not write a response; callers that accept query keys
// should send Cache-Control: no-store as [APIKeyAuth.RequireAPIKey] does.
func (a *APIKeyAuth) Authenticate(r *http.Request) (*Principal, error) {
	key, _, err := a.extract(r)
	if err != nil {
		return nil, err
	}
	return a.verify(r.Context(), key)
}

// RequireAPIKey returns middleware that authenticates every request with
// [APIKeyAuth.Authenticate]. On success it stores the [Principal] in the
// request context (see [PrincipalFrom]) and calls next; on failure it calls
// the ErrorWriter (by default [WriteError]: 401 with the ApiKey challenge, 400
// invalid_request, or 503) and does not call next. When the key came from the
// query string, Cache-Control: no-store and Referrer-Policy: no-referrer are
// set before next runs.
func (a *APIKeyAuth) RequireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, fromQuery, err := a.extract(r)
		if fromQuery {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("Referrer-Policy", "no-referrer")
		}
		var p *Principal
		if err == nil {
			p, err = a.verify(r.Context(), key)
		}
		if err != nil {
			Audit(r, AuthEvent{Method: MethodAPIKey, Err: err})
			a.writeError(w, r, err)
			return
		}
		Audit(r, AuthEvent{Method: MethodAPIKey, Subject: p.Subject, Principal: p})
		trackPrincipal(r, p)
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// Challenge implements [Authenticator]: the ApiKey challenge naming the
// header, sent with every 401.
func (a *APIKeyAuth) Challenge() string {
	if a == nil || a.errMissing == nil {
		return `ApiKey realm="` + DefaultRealm + `"`
	}
	return a.errMissing.Challenges[0]
}

// extract finds exactly one key in the enabled places. fromQuery reports
// whether the query parameter was present at all (even on error).
func (a *APIKeyAuth) extract(r *http.Request) (key string, fromQuery bool, err error) {
	n := 0
	if vs := r.Header[a.header]; len(vs) > 0 {
		key, n = vs[0], len(vs)
	}
	if a.query != "" {
		qk, qn, qerr := queryValue(r.URL.RawQuery, a.query)
		if qn > 0 || qerr != nil {
			fromQuery = true
		}
		if qerr != nil {
			return "", true, a.errMalformed
		}
		if qn > 0 {
			key = qk
		}
		n += qn
	}
	if a.cookie != "" && n < 2 {
		for _, c := range r.CookiesNamed(a.cookie) {
			key = c.Value
			n++
		}
	}
	switch {
	case n == 0:
		return "", fromQuery, a.errMissing
	case n > 1:
		return "", fromQuery, a.errMultiple
	case key == "":
		return "", fromQuery, a.errEmpty
	}
	return key, fromQuery, nil
}

// queryValue returns the value of the last parameter named name in the raw
// query and how many there are, without building a url.Values map.
func queryValue(raw, name string) (value string, n int, err error) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name && !(strings.ContainsAny(k, "%+") && unescapesTo(k, name)) {
			continue
		}
		n++
		if value, err = url.QueryUnescape(v); err != nil {
			return "", n, err
		}
	}
	return value, n, nil
}

func unescapesTo(k, name string) bool {
	u, err := url.QueryUnescape(k)
	return err == nil && u == name
}

func (a *APIKeyAuth) verify(ctx context.Context, key string) (*Principal, error) {
	if len(key) > a.maxLen {
		return nil, a.errTooLong
	}
	if ours, valid := apiKeyFormat(a.prefix, key); ours && !valid {
		return nil, a.errFormat
	}
	rec, err := a.store.LookupAPIKey(ctx, sha256.Sum256([]byte(key)))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, a.errUnknown
	case err != nil:
		return nil, Unavailable(fmt.Errorf("guard: API key store: %w", err))
	case rec.Revoked:
		return nil, a.errRevoked
	case !rec.ExpiresAt.IsZero() && !a.now().Before(rec.ExpiresAt):
		return nil, a.errExpired
	}
	// The principal gets its own copy of the lists (one allocation for both):
	// a store may hand out its records' slices, and a handler that writes to
	// p.Roles must not change what the next request with this key gets.
	lists := append(make([]string, 0, len(rec.Roles)+len(rec.Scopes)), rec.Roles...)
	lists = append(lists, rec.Scopes...)
	n := len(rec.Roles)
	return &Principal{Subject: rec.Subject, Roles: lists[:n:n], Scopes: lists[n:], Method: MethodAPIKey}, nil
}
