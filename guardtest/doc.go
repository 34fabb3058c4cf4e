// Package guardtest helps an app test the routes it protects with guard:
// keys and tokens minted with chosen claims, a settable clock, requests that
// reach a [authserver.TokenEndpoint] from an httptest client, assertions on
// RFC 6750 responses, and a fake identity provider ([JWKSServer]) whose keys
// rotate, for services that verify another party's tokens.
//
//	key := guardtest.HMACKey(t)
//	iss := guardtest.Issuer(t, guard.TokenIssuerConfig{Key: key})
//	v := guardtest.Verifier(t, guard.VerifierConfig{Keys: []*guard.Key{key}})
//	h := v.RequireBearer(guard.RequireRole("admin")(myHandler))
//
//	rec := httptest.NewRecorder()
//	h.ServeHTTP(rec, guardtest.BearerRequest("GET", "/admin", guardtest.Token(t, iss, guard.Claims{Subject: "bob"})))
//	guardtest.AssertInsufficientScope(t, rec, "admin")
//
// Everything here fails the test (t.Fatal) on a setup error, so a test needs
// no error handling of its own. Nothing here is meant for production code.
package guardtest
