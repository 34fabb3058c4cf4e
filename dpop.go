package guard

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/guardkit/guard/internal/transport"
)

// Limits and defaults of DPoP proof checking (RFC 9449).
const (
	// DefaultDPoPMaxAge is how old a proof's iat may be when
	// DPoPConfig.MaxAge is zero.
	DefaultDPoPMaxAge = 60 * time.Second
	// MaxDPoPMaxAge is the largest DPoPConfig.MaxAge accepted.
	MaxDPoPMaxAge = 5 * time.Minute
	// DefaultDPoPLeeway is how far in the future a proof's iat may be when
	// DPoPConfig.Leeway is zero.
	DefaultDPoPLeeway = 5 * time.Second
	// DefaultMaxDPoPProofBytes caps a proof's length when
	// DPoPConfig.MaxProofBytes is zero.
	DefaultMaxDPoPProofBytes = 4096
	// MaxDPoPProofBytes is the largest DPoPConfig.MaxProofBytes accepted.
	MaxDPoPProofBytes = 64 << 10
	// MaxDPoPJTIBytes is the longest "jti" a proof may carry.
	MaxDPoPJTIBytes = 256
)

// DefaultDPoPAlgorithms are the proof algorithms accepted when
// DPoPConfig.Algorithms is empty: asymmetric only.
var DefaultDPoPAlgorithms = []Algorithm{ES256, ES384, ES512, EdDSA, RS256, PS256}

// DPoPConfig configures a [DPoP]. Replay is required; every other field has
// a default. The config is copied; changing it afterwards has no effect.
type DPoPConfig struct {
	// Algorithms are the accepted proof algorithms. Default
	// [DefaultDPoPAlgorithms]. HMAC algorithms are refused (a proof is
	// signed with the client's private key), and "none" is no Algorithm.
	Algorithms []Algorithm
	// MaxAge is how old a proof may be: its iat must not lie further than
	// MaxAge in the past. Default [DefaultDPoPMaxAge]; at most
	// [MaxDPoPMaxAge].
	MaxAge time.Duration
	// Leeway is how far in the future a proof's iat may lie (clock skew).
	// Default [DefaultDPoPLeeway]; at most [MaxLeeway].
	Leeway time.Duration
	// Replay remembers the proofs seen (by key thumbprint and jti) until
	// they are too old to be accepted, so each proof is accepted once.
	// Required: [NewMemoryReplayCache] for one instance, a shared store
	// (redisstore) for several replicas. When it fails, the request gets
	// 503 temporarily_unavailable with Retry-After (fail closed).
	Replay ReplayCache
	// Nonces, when set, makes every proof carry a nonce issued by them
	// (RFC 9449 §8, §9): a proof without one or with a stale one gets
	// use_dpop_nonce with a fresh nonce in the DPoP-Nonce header. Default
	// nil: a proof's nonce claim is ignored.
	Nonces *DPoPNonces
	// MaxProofBytes caps the DPoP header's length, checked before any
	// decoding. Default [DefaultMaxDPoPProofBytes]; at most
	// [MaxDPoPProofBytes].
	MaxProofBytes int
	// BaseURL is the external origin of the service, such as
	// "https://api.example.com" (scheme, host and optional port; no path,
	// query or fragment). When set, it is the scheme and authority of the
	// URL a proof's htu must name; the path comes from the request. Set it
	// behind a proxy or a load balancer. Default "": the scheme is https
	// for a TLS connection and http otherwise (a peer in TrustedProxies may
	// say otherwise with X-Forwarded-Proto), and the authority is the
	// request's Host (a trusted peer's X-Forwarded-Host overrides it).
	BaseURL string
	// TrustedProxies are the peers whose X-Forwarded-Proto and
	// X-Forwarded-Host are believed when BaseURL is empty. Default none.
	TrustedProxies []netip.Prefix
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// DPoP checks DPoP proofs (RFC 9449): at a token endpoint before binding
// tokens to the proof's key, and at a resource server (through
// VerifierConfig.DPoP) before accepting a DPoP-bound token. It is immutable
// after [NewDPoP] and safe for concurrent use.
type DPoP struct {
	algs       []Algorithm
	algNames   string
	maxAge     time.Duration
	leeway     time.Duration
	replay     ReplayCache
	nonces     *DPoPNonces
	maxBytes   int
	baseScheme string
	baseHost   string
	proxies    *transport.Policy
	now        func() time.Time
	wall       func() time.Time       // time.Now: the replay caches' clock; tests move it
	errs       [numProofFaults]*Error // the token endpoint's shape: 400, no challenge
}

// NewDPoP validates cfg and returns a DPoP. It reports every problem at
// once: no Replay; an algorithm that is unknown or symmetric; MaxAge,
// Leeway or MaxProofBytes negative or over their bounds; a BaseURL that is
// not an http or https origin; an invalid trusted proxy prefix.
func NewDPoP(cfg DPoPConfig) (*DPoP, error) {
	var errs []error
	d := &DPoP{
		maxAge:   cfg.MaxAge,
		leeway:   cfg.Leeway,
		replay:   cfg.Replay,
		nonces:   cfg.Nonces,
		maxBytes: cfg.MaxProofBytes,
		now:      cfg.Now,
		wall:     time.Now,
	}
	if d.replay == nil {
		errs = append(errs, errors.New("guard: DPoPConfig.Replay is nil; use NewMemoryReplayCache or a shared store"))
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultDPoPAlgorithms
	}
	for _, a := range algs {
		switch {
		case !a.Valid():
			errs = append(errs, fmt.Errorf("guard: DPoPConfig.Algorithms: unsupported algorithm %q", a))
		case a.isHMAC():
			errs = append(errs, fmt.Errorf("guard: DPoPConfig.Algorithms: %s is symmetric; a DPoP proof needs an asymmetric algorithm", a))
		case !slices.Contains(d.algs, a):
			d.algs = append(d.algs, a)
		}
	}
	d.algNames = strings.Join(d.AlgorithmNames(), " ")
	if cfg.MaxAge < 0 || cfg.MaxAge > MaxDPoPMaxAge {
		errs = append(errs, fmt.Errorf("guard: DPoPConfig.MaxAge %v is outside [0, %v]", cfg.MaxAge, MaxDPoPMaxAge))
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("guard: DPoPConfig.Leeway %v is outside [0, %v]", cfg.Leeway, MaxLeeway))
	}
	if cfg.MaxProofBytes < 0 || cfg.MaxProofBytes > MaxDPoPProofBytes {
		errs = append(errs, fmt.Errorf("guard: DPoPConfig.MaxProofBytes %d is outside [0, %d]", cfg.MaxProofBytes, MaxDPoPProofBytes))
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("guard: DPoPConfig.BaseURL: %w", err))
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.User != nil, u.Opaque != "",
			u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
			errs = append(errs, fmt.Errorf("guard: DPoPConfig.BaseURL %q is not an origin such as https://api.example.com", cfg.BaseURL))
		default:
			d.baseScheme, d.baseHost = u.Scheme, normalHost(u.Scheme, u.Host)
		}
	}
	var perrs []error
	d.proxies, perrs = transport.New("resource server", "DPoPConfig", cfg.TrustedProxies, false, nil)
	errs = append(errs, perrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.maxAge == 0 {
		d.maxAge = DefaultDPoPMaxAge
	}
	if d.leeway == 0 {
		d.leeway = DefaultDPoPLeeway
	}
	if d.maxBytes == 0 {
		d.maxBytes = DefaultMaxDPoPProofBytes
	}
	if d.now == nil {
		d.now = time.Now
	}
	for f := range d.errs {
		d.errs[f] = proofError(proofFault(f), nil)
	}
	return d, nil
}

// AlgorithmNames returns the accepted proof algorithms, for the
// dpop_signing_alg_values_supported metadata (RFC 9449 §5.1, §10.2) and
// the algs of DPoP challenges. With EdDSA it lists "Ed25519" too, the
// fully-specified name (RFC 9864) that some clients sign proofs with.
func (d *DPoP) AlgorithmNames() []string {
	if d == nil {
		return nil
	}
	names := make([]string, 0, len(d.algs)+1)
	for _, a := range d.algs {
		names = append(names, string(a))
		if a == EdDSA {
			names = append(names, algEd25519)
		}
	}
	return names
}

// algEd25519 is the fully-specified name of EdDSA with Ed25519 (RFC 9864
// §2.2), which some clients write in proofs; guard's EdDSA is Ed25519 only,
// so it is the same algorithm, accepted and advertised wherever EdDSA is.
const algEd25519 = "Ed25519"

// DPoPProof is a checked DPoP proof.
type DPoPProof struct {
	// Thumbprint is the RFC 7638 SHA-256 thumbprint (base64url) of the
	// proof's key: the "jkt" a bound token's cnf carries.
	Thumbprint string
	// Key is the public key from the proof's header.
	Key *Key
	// ID is the proof's "jti".
	ID string
	// IssuedAt is the proof's "iat".
	IssuedAt time.Time
	// Nonce is the proof's "nonce", or "".
	Nonce string
}

// Check checks the request's DPoP proof (RFC 9449 §4.3) for r's method and
// URL and returns it. accessToken is "" at a token endpoint (an "ath"
// claim is then ignored) and the presented access token at a resource
// server (the proof's "ath" must then be its base64url SHA-256).
//
// The rules, in order: exactly one DPoP header, at most MaxProofBytes long;
// a compact JWS in strict base64url with a strict-JSON header whose typ is
// exactly "dpop+jwt", whose alg is one of Algorithms ("Ed25519" counting as
// EdDSA), with no crit, and
// whose jwk is a public key (no "d", "p", "q", "dp", "dq", "qi", "oth" or
// "k" member, no "oct" kty, RSA members without leading zeros) usable with
// that alg; the signature by that key; strict-JSON claims with jti (at most
// [MaxDPoPJTIBytes]), htm, htu and a numeric iat; htm equal to r.Method
// (case-sensitive); htu equal to the request's URL; iat no older than
// MaxAge and no further ahead than Leeway; ath when accessToken is set; a
// nonce of Nonces when set; and last, the proof not seen before: its key's
// thumbprint and jti are remembered in Replay until iat + MaxAge + Leeway
// (keying by the thumbprint means jtis of different keys never collide,
// and no one can use up another key's jti). That deadline is handed to
// Replay on the wall clock (time.Now plus the time left on Now's clock),
// since caches expire keys by real time.
//
// htu is compared to the request's URL without query and fragment, both
// sides normalised first (RFC 3986 §6.2.2 and §6.2.3): scheme and host
// lower-cased, the default port (80 for http, 443 for https) and an empty
// port dropped, an empty path read as "/", percent-encodings of unreserved
// characters decoded and the hex digits of the others upper-cased. htu
// must be an absolute http or https URL without userinfo. Dot segments are
// not removed: "/a/../b" matches only itself. The request's scheme and
// authority come from BaseURL, or else from the connection (see
// DPoPConfig.BaseURL); its path is r.URL's escaped path.
//
// Failures are *[Error] values with status 400 and no challenge (the token
// endpoint's shape, RFC 9449 §5): code invalid_dpop_proof, matching
// [ErrInvalidDPoPProof]; or use_dpop_nonce, matching [ErrUseDPoPNonce],
// whose fresh nonce [DPoPNonce] returns (and [WriteError] sends as
// DPoP-Nonce); or, when Replay fails, 503 temporarily_unavailable with
// Retry-After. A resource server's [Verifier] answers the same failures
// with 401 DPoP challenges instead. A DPoP not built by NewDPoP answers
// 500 server_error.
func (d *DPoP) Check(r *http.Request, accessToken string) (*DPoPProof, error) {
	if d == nil || d.now == nil {
		return nil, errZeroDPoP
	}
	p, f, cause := d.check(r, accessToken, "")
	if f != faultNone {
		return nil, d.failure(&d.errs, f, cause)
	}
	return p, nil
}

// errZeroDPoP answers every use of a DPoP not built by NewDPoP.
var errZeroDPoP = prerender(&Error{
	Status:      http.StatusInternalServerError,
	Code:        "server_error",
	Description: "DPoP not configured",
	Err:         errors.New("guard: DPoP used without NewDPoP"),
})

// failure returns the error of fault f from errs (prebuilt with a shape),
// with a fresh nonce for use_dpop_nonce and the cause for a store failure.
func (d *DPoP) failure(errs *[numProofFaults]*Error, f proofFault, cause error) error {
	switch f {
	case faultStore:
		return Unavailable(fmt.Errorf("guard: DPoP replay cache: %w", cause))
	case faultNonce:
		e := *errs[f]
		e.Err = &dpopNonceError{nonce: d.nonces.Nonce()}
		return &e
	}
	return errs[f]
}

// proofHeader is a DPoP proof's JOSE header (RFC 9449 §4.2).
type proofHeader struct {
	Typ  string         `json:"typ"`
	Alg  string         `json:"alg"`
	JWK  jsontext.Value `json:"jwk"`
	Crit jsontext.Value `json:"crit,omitzero"`
}

// proofClaims are a DPoP proof's claims (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath,omitzero"`
	Nonce string   `json:"nonce,omitzero"`
}

// check runs Check's rules. wantJKT, when set, is the thumbprint a bound
// access token names; a proof by another key fails with faultBinding before
// its jti is remembered. cause is set for faultStore.
func (d *DPoP) check(r *http.Request, accessToken, wantJKT string) (_ *DPoPProof, _ proofFault, cause error) {
	vals := r.Header["Dpop"]
	switch {
	case len(vals) == 0:
		return nil, faultMissing, nil
	case len(vals) > 1:
		return nil, faultMultiple, nil
	case len(vals[0]) > d.maxBytes:
		return nil, faultTooLarge, nil
	}
	proof := vals[0]
	dot1, dot2, ok := splitToken(proof)
	if !ok {
		return nil, faultMalformed, nil
	}
	var h proofHeader
	if raw, err := b64.DecodeString(proof[:dot1]); err != nil || json.Unmarshal(raw, &h) != nil {
		return nil, faultMalformed, nil
	}
	if h.Typ != "dpop+jwt" {
		return nil, faultTyp, nil
	}
	alg := Algorithm(h.Alg)
	if h.Alg == algEd25519 {
		alg = EdDSA
	}
	if !slices.Contains(d.algs, alg) {
		return nil, faultAlg, nil
	}
	if len(h.Crit) > 0 {
		return nil, faultMalformed, nil
	}
	key, err := parseProofJWK(h.JWK, alg)
	if err != nil {
		return nil, faultJWK, nil
	}
	sig, err := b64.DecodeString(proof[dot2+1:])
	if err != nil || len(sig) > maxSignatureBytes || !key.verify(proof[:dot2], sig) {
		return nil, faultSignature, nil
	}
	var c proofClaims
	if raw, err := b64.DecodeString(proof[dot1+1 : dot2]); err != nil || json.Unmarshal(raw, &c) != nil {
		return nil, faultMalformed, nil
	}
	switch {
	case c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == nil:
		return nil, faultClaims, nil
	case len(c.JTI) > MaxDPoPJTIBytes:
		return nil, faultJTI, nil
	case c.HTM != r.Method:
		return nil, faultMethod, nil
	case !d.sameURL(r, c.HTU):
		return nil, faultURL, nil
	}
	now := d.now()
	iat := unixFloat(*c.IAT)
	switch {
	case iat.Before(now.Add(-d.maxAge)):
		return nil, faultOld, nil
	case iat.After(now.Add(d.leeway)):
		return nil, faultFuture, nil
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ATH != b64.EncodeToString(sum[:]) {
			return nil, faultATH, nil
		}
	}
	thumb := key.Thumbprint()
	if wantJKT != "" && thumb != wantJKT {
		return nil, faultBinding, nil
	}
	if d.nonces != nil && !d.nonces.Valid(c.Nonce) {
		return nil, faultNonce, nil
	}
	// Replay caches keep time by the wall clock (Redis's, or time.Now): the
	// deadline goes to them as the time left on DPoP's clock, from now on
	// the wall clock, so a test clock (DPoPConfig.Now) far from real time
	// still keeps each key for as long as its proof is acceptable.
	until := d.wall().Add(iat.Add(d.maxAge + d.leeway).Sub(now))
	first, err := d.replay.Remember(r.Context(), thumb+":"+c.JTI, until)
	if err != nil {
		return nil, faultStore, err
	}
	if !first {
		return nil, faultReplay, nil
	}
	return &DPoPProof{Thumbprint: thumb, Key: key, ID: c.JTI, IssuedAt: iat, Nonce: c.Nonce}, faultNone, nil
}

// unixFloat is a NumericDate as a time, clamped far out when out of range.
func unixFloat(f float64) time.Time {
	sec, frac := math.Modf(f)
	if math.IsNaN(f) || sec > math.MaxInt64/2 || sec < math.MinInt64/2 {
		sec, frac = math.Copysign(math.MaxInt64/2, f), 0
	}
	return time.Unix(int64(sec), int64(frac*1e9))
}

// proofJWK is the jwk header member: the members a public key may have,
// and the private ones, which are refused.
type proofJWK struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use,omitzero"`
	KeyOps []string `json:"key_ops,omitzero"`
	Alg    string   `json:"alg,omitzero"`
	Kid    string   `json:"kid,omitzero"`
	Crv    string   `json:"crv,omitzero"`
	X      string   `json:"x,omitzero"`
	Y      string   `json:"y,omitzero"`
	N      string   `json:"n,omitzero"`
	E      string   `json:"e,omitzero"`

	D   jsontext.Value `json:"d,omitzero"`
	P   jsontext.Value `json:"p,omitzero"`
	Q   jsontext.Value `json:"q,omitzero"`
	DP  jsontext.Value `json:"dp,omitzero"`
	DQ  jsontext.Value `json:"dq,omitzero"`
	QI  jsontext.Value `json:"qi,omitzero"`
	Oth jsontext.Value `json:"oth,omitzero"`
	K   jsontext.Value `json:"k,omitzero"`
}

// parseProofJWK parses a proof's jwk as a public key for alg.
func parseProofJWK(raw jsontext.Value, alg Algorithm) (*Key, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("guard: DPoP jwk is not an object")
	}
	var p proofJWK
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	if p.Kty == "oct" || p.D != nil || p.P != nil || p.Q != nil || p.DP != nil || p.DQ != nil || p.QI != nil || p.Oth != nil || p.K != nil {
		return nil, errors.New("guard: DPoP jwk is not a public key")
	}
	if p.Kty == "RSA" && (!canonicalUint(p.N) || !canonicalUint(p.E)) {
		return nil, errors.New("guard: DPoP jwk RSA member has leading zeros")
	}
	if p.Alg == algEd25519 && alg == EdDSA {
		p.Alg = string(EdDSA)
	}
	j := jwk{Kty: p.Kty, Use: p.Use, KeyOps: p.KeyOps, Alg: p.Alg, Kid: p.Kid, Crv: p.Crv, X: p.X, Y: p.Y, N: p.N, E: p.E}
	k, err := j.key(alg)
	if err != nil {
		return nil, err
	}
	if k.CanSign() || k.Symmetric() {
		return nil, errors.New("guard: DPoP jwk is not a public key")
	}
	return k, nil
}

// canonicalUint reports whether s is a base64url unsigned integer without
// leading zero bytes (RFC 7518 §6.3.1), so the thumbprint guard computes
// from the key is the one the client computed from its JWK.
func canonicalUint(s string) bool {
	b, err := b64.DecodeString(s)
	return err == nil && len(b) > 0 && b[0] != 0
}

// sameURL reports whether htu names r's URL (see Check).
func (d *DPoP) sameURL(r *http.Request, htu string) bool {
	u, err := url.Parse(htu)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	scheme, host := d.baseScheme, d.baseHost
	if scheme == "" {
		scheme, host = d.requestOrigin(r)
	}
	if u.Scheme != scheme || normalHost(u.Scheme, u.Host) != host {
		return false
	}
	return normalPath(u.EscapedPath()) == normalPath(r.URL.EscapedPath())
}

// requestOrigin is the scheme and normalised authority of r.
func (d *DPoP) requestOrigin(r *http.Request) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if d.proxies.TrustedPeer(r) {
		if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
			scheme = p
		}
		if h := r.Header.Values("X-Forwarded-Host"); len(h) == 1 && h[0] != "" && !strings.ContainsAny(h[0], ", /") {
			host = h[0]
		}
	}
	return scheme, normalHost(scheme, host)
}

// normalHost lower-cases host and drops an empty or default port.
func normalHost(scheme, host string) string {
	host = strings.ToLower(host)
	host = strings.TrimSuffix(host, ":")
	switch {
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// normalPath decodes percent-encoded unreserved characters and upper-cases
// the hex digits of the other percent-encodings; "" becomes "/".
func normalPath(p string) string {
	if p == "" {
		return "/"
	}
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(c)
			continue
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// isThumbprint reports whether s looks like a SHA-256 JWK thumbprint: 43
// base64url characters.
func isThumbprint(s string) bool {
	b, err := b64.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
