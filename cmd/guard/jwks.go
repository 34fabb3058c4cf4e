package main

import (
	"bytes"
	"encoding/json"

	"github.com/guardkit/guard"
)

const jwksMore = `Each FILE is a PEM key (private or public), a JWK, or a JWK Set. The output
is the JWK Set guard's JWKSHandler would serve for those keys: public members,
"use":"sig", "alg" and "kid" only, never a private member. A key without a kid
gets its RFC 7638 thumbprint. HMAC (oct) keys are refused: a shared secret is
never published. PEM RSA keys are RS256 unless --alg says otherwise.

Examples:
  guard jwks signing.jwk > jwks.json
  guard jwks current.pem next.pem
  guard jwks --alg PS256 rsa.pem
`

func (c *cli) jwks(args []string) int {
	fs := c.flagSet("jwks", "guard jwks [--alg ALG] FILE...", jwksMore)
	alg := fs.String("alg", "", "algorithm of PEM keys (default: implied by the key type; RS256 for RSA)")
	files, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(files) == 0 {
		return c.fail("jwks", usagef("no key file given (see -h)"))
	}
	var keys []*guard.Key
	for _, f := range files {
		ks, err := loadKeys(f, guard.Algorithm(*alg))
		if err != nil {
			return c.fail("jwks", err)
		}
		for _, k := range ks {
			if k.Symmetric() {
				return c.fail("jwks", usagef("%s: an %s key is a shared secret (HMAC), which is never published in a JWK Set", f, k.Algorithm()))
			}
		}
		keys = append(keys, ks...)
	}
	body, err := guard.MarshalJWKSet(keys...)
	if err != nil {
		return c.fail("jwks", usagef("%v", err))
	}
	// Reading it back with guard's parser of remote sets checks it the way
	// a verifier will: no private member, no two keys with one kid.
	if _, skipped, err := guard.ParseJWKSet(body); err != nil || len(skipped) > 0 {
		if err == nil {
			err = skipped[0]
		}
		return c.fail("jwks", usagef("the keys do not make a usable JWK Set: %v", err))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return c.fail("jwks", err)
	}
	out.WriteByte('\n')
	c.stdout.Write(out.Bytes())
	return exitOK
}
