// Package bench measures guard against peer libraries, one full request
// through each middleware per iteration. See README.md and run.sh.
package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/guardkit/guard"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/rs/cors"
)

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ---- Baselines -------------------------------------------------------------

func BenchmarkBaseline(b *testing.B) {
	b.Run("net_http", func(b *testing.B) {
		serve(b, ok, bearerRequest(fx().hs.token), http.StatusOK)
	})
	b.Run("echo", func(b *testing.B) {
		e := echo.New()
		e.GET("/admin", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
		serve(b, e, bearerRequest(fx().hs.token), http.StatusOK)
	})
}

// ---- guard bearer ----------------------------------------------------------

func guardBearer(b *testing.B, f *algFixture, cacheSize int) http.Handler {
	v, err := guard.NewVerifier(guard.VerifierConfig{
		Keys:      []*guard.Key{f.key},
		Issuers:   []string{issuer},
		Audiences: []string{audience},
		CacheSize: cacheSize,
		// The fixtures are signed once with exp in 2100 so that every
		// library accepts them on any day; guard's default 24h bound on a
		// token's lifetime would refuse them.
		MaxTokenLifetime: 100 * 365 * 24 * time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	return v.RequireBearer(guard.RequireRole(role)(ok))
}

// benchGuard measures the success or the bad-signature path. Before a
// bad-signature row, the verifier sees one valid token, as a running service
// has: guard caches a header only once a token with it has verified, and a
// forged token carries the same header as the real ones.
func benchGuard(b *testing.B, f *algFixture, bad bool) {
	h := guardBearer(b, f, 0)
	tok, want := f.token, http.StatusOK
	if bad {
		h.ServeHTTP(httptest.NewRecorder(), bearerRequest(f.token))
		tok, want = f.badToken, http.StatusUnauthorized
	}
	serve(b, h, bearerRequest(tok), want)
}

// benchGuardCached measures a hit in guard's verified-token cache: the
// token has been seen once before the timer starts.
func benchGuardCached(b *testing.B, f *algFixture) {
	h, r := guardBearer(b, f, 1024), bearerRequest(f.token)
	h.ServeHTTP(httptest.NewRecorder(), r)
	serve(b, h, r, http.StatusOK)
}

// benchGuardKeySet is the success row of benchGuard with the verifier
// reading a rotating guard.KeySet (VerifierConfig.KeySource) instead of
// static Keys. The set holds the fixture's verification key under a kid
// (the fixture tokens have none, so the algorithm picks it) and, for ES256,
// an HMAC key to sign with.
func benchGuardKeySet(b *testing.B, f *algFixture) {
	var keys []*guard.Key
	if f.alg == guard.HS256 {
		k, err := guard.NewHMACKey(guard.HS256, []byte(secret), "k")
		must(err)
		keys = append(keys, k)
	} else {
		signer, err := guard.NewHMACKey(guard.HS512, []byte("bench-signer-7Qm2xV9kLp4Rt8Zw1Nc6Hy3Jd5Fb0Gs-Ua2Ve7Xi9Ko4Lq1Mr6Pt3Sw8Yz5"), "s")
		must(err)
		pub, err := guard.NewPublicKey(f.alg, f.pub, "k")
		must(err)
		keys = append(keys, signer, pub)
	}
	ks, err := guard.NewKeySet(guard.KeySetConfig{Keys: keys})
	must(err)
	v, err := guard.NewVerifier(guard.VerifierConfig{
		KeySource:        ks,
		Issuers:          []string{issuer},
		Audiences:        []string{audience},
		MaxTokenLifetime: 100 * 365 * 24 * time.Hour,
	})
	must(err)
	serve(b, v.RequireBearer(guard.RequireRole(role)(ok)), bearerRequest(f.token), http.StatusOK)
}

func BenchmarkGuardHS256Success(b *testing.B) { benchGuard(b, fx().hs, false) }
func BenchmarkGuardHS256KeySet(b *testing.B)  { benchGuardKeySet(b, fx().hs) }
func BenchmarkGuardES256KeySet(b *testing.B)  { benchGuardKeySet(b, fx().es) }
func BenchmarkGuardHS256BadSig(b *testing.B)  { benchGuard(b, fx().hs, true) }
func BenchmarkGuardES256Success(b *testing.B) { benchGuard(b, fx().es, false) }
func BenchmarkGuardES256BadSig(b *testing.B)  { benchGuard(b, fx().es, true) }
func BenchmarkGuardEdDSASuccess(b *testing.B) { benchGuard(b, fx().ed, false) }
func BenchmarkGuardEdDSABadSig(b *testing.B)  { benchGuard(b, fx().ed, true) }
func BenchmarkGuardRS256Success(b *testing.B) { benchGuard(b, fx().rs, false) }
func BenchmarkGuardRS256BadSig(b *testing.B)  { benchGuard(b, fx().rs, true) }
func BenchmarkGuardES256Cached(b *testing.B)  { benchGuardCached(b, fx().es) }
func BenchmarkGuardEdDSACached(b *testing.B)  { benchGuardCached(b, fx().ed) }
func BenchmarkGuardRS256Cached(b *testing.B)  { benchGuardCached(b, fx().rs) }

// ---- floors: the cryptography alone ----------------------------------------

// BenchmarkFloorHS256 is the least any HS256 verifier must do, with no
// allocation: find the two dots, compare the header segment with the one
// expected (the algorithm pinned), base64url-decode the signature and the
// payload into reused buffers, one HMAC-SHA256 over the signing input with
// a prekeyed MAC (Reset), a constant-time comparison, and minimal checks of
// the claims by byte search, no JSON parsing: exp is a number after now,
// sub is not empty, role is "admin". iss and aud are not checked.
func BenchmarkFloorHS256(b *testing.B) {
	tok := []byte(fx().hs.token)
	wantHeader := []byte(tok[:bytes.IndexByte(tok, '.')])
	mac := hmac.New(sha256.New, []byte(secret))
	var pay, sig [512]byte
	var sum [32]byte
	b.ReportAllocs()
	for b.Loop() {
		d1 := bytes.IndexByte(tok, '.')
		d2 := d1 + 1 + bytes.IndexByte(tok[d1+1:], '.')
		if !bytes.Equal(tok[:d1], wantHeader) {
			b.Fatal("floor: header")
		}
		n, err := b64.Decode(sig[:], tok[d2+1:])
		if err != nil {
			b.Fatal(err)
		}
		mac.Reset()
		mac.Write(tok[:d2])
		if !hmac.Equal(mac.Sum(sum[:0]), sig[:n]) {
			b.Fatal("floor: token does not verify")
		}
		n, err = b64.Decode(pay[:], tok[d1+1:d2])
		if err != nil || !floorClaims(pay[:n], time.Now().Unix()) {
			b.Fatal("floor: claims refused")
		}
	}
}

// floorClaims is BenchmarkFloorHS256's claim check: byte searches, no parser.
func floorClaims(p []byte, now int64) bool {
	i := bytes.Index(p, []byte(`"exp":`))
	if i < 0 {
		return false
	}
	var exp int64
	for _, c := range p[i+len(`"exp":`):] {
		if c < '0' || c > '9' {
			break
		}
		exp = exp*10 + int64(c-'0')
	}
	j := bytes.Index(p, []byte(`"sub":"`))
	return exp > now && j >= 0 && j+len(`"sub":"`) < len(p) && p[j+len(`"sub":"`)] != '"' &&
		bytes.Contains(p, []byte(`"role":"`+role+`"`))
}

// BenchmarkRawVerify is the raw signature check of each asymmetric algorithm,
// hashing of the signing input included, on already-decoded signatures.
func BenchmarkRawVerify(b *testing.B) {
	b.Run("ES256", func(b *testing.B) {
		f := fx().es
		pub := f.pub.(*ecdsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(f.signingInput)
			if !ecdsa.Verify(pub, d[:], f.r, f.s) {
				b.Fatal("ES256 does not verify")
			}
		}
	})
	b.Run("EdDSA", func(b *testing.B) {
		f := fx().ed
		pub := f.pub.(ed25519.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, f.signingInput, f.sig) {
				b.Fatal("EdDSA does not verify")
			}
		}
	})
	b.Run("RS256", func(b *testing.B) {
		f := fx().rs
		pub := f.pub.(*rsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(f.signingInput)
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], f.sig) != nil {
				b.Fatal("RS256 does not verify")
			}
		}
	})
}

// ---- without the recorder ---------------------------------------------------

// BenchmarkReusedWriter runs a few rows with one minimal ResponseWriter
// reused by every iteration (its header map cleared) instead of a new
// httptest.ResponseRecorder, whose four allocations and header snapshot
// belong to every row above. What remains is the middleware's own cost: its
// allocations are guard's (the request copy of r.WithContext included), and
// a failure is not charged for the recorder cloning its error headers.
func BenchmarkReusedWriter(b *testing.B) {
	f := fx()
	rows := []struct {
		name string
		h    func(b *testing.B) http.Handler
		tok  string
		want int
	}{
		{"net_http", func(*testing.B) http.Handler { return ok }, f.hs.token, http.StatusOK},
		{"GuardHS256Success", func(b *testing.B) http.Handler { return guardBearer(b, f.hs, 0) }, f.hs.token, http.StatusOK},
		{"GuardHS256BadSig", func(b *testing.B) http.Handler {
			h := guardBearer(b, f.hs, 0)
			h.ServeHTTP(httptest.NewRecorder(), bearerRequest(f.hs.token)) // as benchGuard does
			return h
		}, f.hs.badToken, http.StatusUnauthorized},
		{"GuardES256Cached", func(b *testing.B) http.Handler {
			h := guardBearer(b, f.es, 1024)
			h.ServeHTTP(httptest.NewRecorder(), bearerRequest(f.es.token))
			return h
		}, f.es.token, http.StatusOK},
		{"PeerGolangJWTSuccess", func(*testing.B) http.Handler { return golangJWTMiddleware(golangJWTAdmin) }, f.hs.token, http.StatusOK},
	}
	for _, row := range rows {
		b.Run(row.name, func(b *testing.B) {
			h, r := row.h(b), bearerRequest(row.tok)
			w := &reusedWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, r)
				if w.code != row.want {
					b.Fatalf("status %d, want %d", w.code, row.want)
				}
			}
		})
	}
}

// reusedWriter is a minimal ResponseWriter that keeps the status only.
type reusedWriter struct {
	h    http.Header
	code int
}

func (w *reusedWriter) Header() http.Header { return w.h }

func (w *reusedWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}

func (w *reusedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// ---- peers -----------------------------------------------------------------

func peerBearer(b *testing.B, h http.Handler, bad bool) {
	f := fx().hs
	tok, want := f.token, http.StatusOK
	if bad {
		tok, want = f.badToken, http.StatusUnauthorized
	}
	serve(b, h, bearerRequest(tok), want)
}

// golang-jwt/jwt/v5 in the obvious hand-written middleware: a typed claims
// struct and the parser options for every check; sub and role by hand.

type jwtClaims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

type jwtClaimsKey struct{}

func golangJWTMiddleware(next http.Handler) http.Handler {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
	)
	key := []byte(secret)
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c := new(jwtClaims)
		if _, err := parser.ParseWithClaims(tok, c, keyFunc); err != nil || c.Subject == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), jwtClaimsKey{}, c)))
	})
}

var golangJWTAdmin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(jwtClaimsKey{}).(*jwtClaims)
	if c == nil || c.Role != role {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
})

func BenchmarkPeerGolangJWTSuccess(b *testing.B) {
	peerBearer(b, golangJWTMiddleware(golangJWTAdmin), false)
}
func BenchmarkPeerGolangJWTBadSig(b *testing.B) {
	peerBearer(b, golangJWTMiddleware(golangJWTAdmin), true)
}

// auth0/go-jwt-middleware/v2: its validator checks alg, iss and aud (and exp
// when present); exp presence, sub and role are checked in the handler.

type auth0Claims struct {
	Role string `json:"role"`
}

func (*auth0Claims) Validate(context.Context) error { return nil }

func auth0Handler(b *testing.B) http.Handler {
	key := []byte(secret)
	v, err := validator.New(
		func(context.Context) (any, error) { return key, nil },
		validator.HS256, issuer, []string{audience},
		validator.WithCustomClaims(func() validator.CustomClaims { return new(auth0Claims) }),
	)
	if err != nil {
		b.Fatal(err)
	}
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vc, _ := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		if vc == nil || vc.RegisteredClaims.Expiry == 0 || vc.RegisteredClaims.Subject == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if c, _ := vc.CustomClaims.(*auth0Claims); c == nil || c.Role != role {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return jwtmiddleware.New(v.ValidateToken).CheckJWT(admin)
}

func BenchmarkPeerAuth0Success(b *testing.B) { peerBearer(b, auth0Handler(b), false) }
func BenchmarkPeerAuth0BadSig(b *testing.B)  { peerBearer(b, auth0Handler(b), true) }

// go-chi/jwtauth/v5 (lestrrat-go/jwx/v2): Verifier + Authenticator with the
// validation options for iss, aud, exp and sub; role from FromContext's map
// (jwtauth offers no typed claims).

func jwtauthHandler() http.Handler {
	ja := jwtauth.New("HS256", []byte(secret), nil,
		jwxjwt.WithIssuer(issuer),
		jwxjwt.WithAudience(audience),
		jwxjwt.WithRequiredClaim("exp"),
		jwxjwt.WithRequiredClaim("sub"),
	)
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, claims, err := jwtauth.FromContext(r.Context())
		if err != nil || claims["role"] != role {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(admin))
}

func BenchmarkPeerJWTAuthSuccess(b *testing.B) { peerBearer(b, jwtauthHandler(), false) }
func BenchmarkPeerJWTAuthBadSig(b *testing.B)  { peerBearer(b, jwtauthHandler(), true) }

// labstack/echo-jwt/v4 inside echo: the default parser (golang-jwt v5) with a
// typed claims struct; iss, aud, exp presence, sub and role in the handler,
// since its Config has no parser options.

func echoJWTHandler() http.Handler {
	e := echo.New()
	e.Use(echojwt.WithConfig(echojwt.Config{
		SigningKey:    []byte(secret),
		SigningMethod: "HS256",
		NewClaimsFunc: func(echo.Context) jwt.Claims { return new(jwtClaims) },
	}))
	e.GET("/admin", func(c echo.Context) error {
		tok, _ := c.Get("user").(*jwt.Token)
		if tok == nil {
			return echo.ErrUnauthorized
		}
		cl, _ := tok.Claims.(*jwtClaims)
		if cl == nil || cl.Issuer != issuer || !slices.Contains(cl.Audience, audience) ||
			cl.ExpiresAt == nil || cl.Subject == "" {
			return echo.ErrUnauthorized
		}
		if cl.Role != role {
			return echo.ErrForbidden
		}
		return c.NoContent(http.StatusOK)
	})
	return e
}

func BenchmarkPeerEchoJWTSuccess(b *testing.B) { peerBearer(b, echoJWTHandler(), false) }
func BenchmarkPeerEchoJWTBadSig(b *testing.B)  { peerBearer(b, echoJWTHandler(), true) }

// ---- API keys --------------------------------------------------------------

func guardAPIKeyHandler(b *testing.B, store guard.APIKeyStore) http.Handler {
	a, err := guard.NewAPIKeyAuth(guard.APIKeyAuthConfig{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	return a.RequireAPIKey(ok)
}

func echoKeyAuthHandler(m map[[32]byte]*handRecord) http.Handler {
	e := echo.New()
	e.Use(middleware.KeyAuthWithConfig(middleware.KeyAuthConfig{
		KeyLookup: "header:" + apiKeyHeader,
		Validator: func(key string, c echo.Context) (bool, error) {
			rec := m[sha256.Sum256([]byte(key))]
			if rec == nil {
				return false, nil
			}
			c.Set("principal", rec)
			return true, nil
		},
	}))
	e.GET("/secure", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	return e
}

// BenchmarkAPIKey runs, for 1, 10 000 and 1 000 000 stored keys, guard's
// RequireAPIKey over MemoryAPIKeys, the hand-written SHA-256 map middleware
// and echo's KeyAuth (validating against the same map), each on a hit (the
// last key added) and a miss; for the largest store also guard under
// RunParallel.
func BenchmarkAPIKey(b *testing.B) {
	largest := apiKeySizes[len(apiKeySizes)-1]
	for _, n := range apiKeySizes {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			gs, hs := buildAPIKeyStores(n)
			defer runtime.GC() // drop the stores before the next rows
			hit, miss := apiKeyRequest(apiKey(n-1)), apiKeyRequest(missingAPIKey)
			rows := []struct {
				name string
				h    http.Handler
			}{
				{"guard", guardAPIKeyHandler(b, gs)},
				{"hand", handAPIKey(hs, ok)},
				{"echo", echoKeyAuthHandler(hs)},
			}
			for _, row := range rows {
				b.Run(row.name+"/hit", func(b *testing.B) { serve(b, row.h, hit, http.StatusOK) })
				b.Run(row.name+"/miss", func(b *testing.B) { serve(b, row.h, miss, http.StatusUnauthorized) })
			}
			if n == largest {
				b.Run("guard/parallel_hit", func(b *testing.B) {
					serveParallel(b, rows[0].h, hit, http.StatusOK)
				})
			}
		})
	}
}

// ---- CORS ------------------------------------------------------------------

const corsOrigin = "https://app.example.com"

var (
	corsMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}
	corsHeaders = []string{"Accept", "Content-Type", "Authorization", apiKeyHeader}
)

func corsRequests() (actual, preflight, noOrigin *http.Request) {
	actual = httptest.NewRequest(http.MethodGet, "http://api.example.com/protected", nil)
	actual.Header.Set("Origin", corsOrigin)
	preflight = httptest.NewRequest(http.MethodOptions, "http://api.example.com/protected", nil)
	preflight.Header.Set("Origin", corsOrigin)
	preflight.Header.Set("Access-Control-Request-Method", http.MethodPost)
	preflight.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	noOrigin = httptest.NewRequest(http.MethodGet, "http://api.example.com/protected", nil)
	return
}

func corsRows(b *testing.B, h http.Handler) {
	actual, preflight, noOrigin := corsRequests()
	b.Run("actual", func(b *testing.B) { serve(b, h, actual, http.StatusOK) })
	b.Run("preflight", func(b *testing.B) { serve(b, h, preflight, http.StatusNoContent) })
	b.Run("no_origin", func(b *testing.B) { serve(b, h, noOrigin, http.StatusOK) })
}

func BenchmarkGuardCORS(b *testing.B) {
	c, err := guard.NewCORS(guard.CORSConfig{
		AllowedOrigins:   []string{corsOrigin},
		AllowCredentials: true,
		AllowedMethods:   corsMethods,
		AllowedHeaders:   corsHeaders[:2],
		APIKeyHeader:     apiKeyHeader,
		MaxAge:           10 * time.Minute,
	})
	if err != nil {
		b.Fatal(err)
	}
	corsRows(b, c.Handler(ok))
}

// BenchmarkRSCORS is github.com/rs/cors used directly with the options guard's
// config above amounts to.
func BenchmarkRSCORS(b *testing.B) {
	c := cors.New(cors.Options{
		AllowedOrigins:   []string{corsOrigin},
		AllowCredentials: true,
		AllowedMethods:   corsMethods,
		AllowedHeaders:   corsHeaders,
		ExposedHeaders:   []string{"WWW-Authenticate"},
		MaxAge:           600,
	})
	corsRows(b, c.Handler(ok))
}

// ---- issuance --------------------------------------------------------------

func BenchmarkIssue(b *testing.B) {
	f := fx()
	for _, af := range []*algFixture{f.hs, f.es, f.ed, f.rs} {
		b.Run(string(af.alg), func(b *testing.B) {
			iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{
				Key: af.key, Issuer: issuer, Audience: []string{audience}, TTL: time.Hour,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			c := guard.Claims{Subject: subject, Roles: adminRoles}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Issue(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ---- concurrency -----------------------------------------------------------

// BenchmarkParallelGuardHS256 runs the HS256 success row on every P; ns/op
// that scales down with GOMAXPROCS shows the verifier takes no shared lock.
func BenchmarkParallelGuardHS256(b *testing.B) {
	f := fx().hs
	serveParallel(b, guardBearer(b, f, 0), bearerRequest(f.token), http.StatusOK)
}
