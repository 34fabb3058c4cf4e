"""Interop driver for e2e/interop_test.go, using PyJWT.

  python3 interop.py verify JWKS_URL ISSUER AUDIENCE   < tokens (one "ALG TOKEN" per line)
    prints one JSON line per token: {"alg","ok","sub"|"error"}
  python3 interop.py sign ISSUER AUDIENCE ALG...
    prints {"jwks":{"keys":[...]},"tokens":[{"alg","token"}]}, each key new
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def verify(jwks_url, issuer, audience):
    client = jwt.PyJWKClient(jwks_url)
    for line in sys.stdin.read().splitlines():
        if not line:
            continue
        alg, token = line.split(" ", 1)
        try:
            key = client.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=issuer)
            print(json.dumps({"alg": alg, "ok": True, "sub": claims["sub"]}))
        except Exception as e:  # report every failure, keep going
            print(json.dumps({"alg": alg, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}))


def new_key(alg):
    if alg == "ES256":
        k = ec.generate_private_key(ec.SECP256R1())
        return k, json.loads(ECAlgorithm.to_jwk(k.public_key()))
    if alg in ("RS256", "PS256"):
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return k, json.loads(RSAAlgorithm.to_jwk(k.public_key()))
    if alg == "EdDSA":
        k = ed25519.Ed25519PrivateKey.generate()
        return k, json.loads(OKPAlgorithm.to_jwk(k.public_key()))
    raise SystemExit("unsupported alg " + alg)


def sign(issuer, audience, algs):
    keys, tokens = [], []
    now = int(time.time())
    for alg in algs:
        priv, pub = new_key(alg)
        kid = "pyjwt-" + alg
        pub.update({"kid": kid, "alg": alg, "use": "sig"})
        keys.append(pub)
        claims = {"iss": issuer, "aud": audience, "sub": kid, "iat": now, "exp": now + 300, "role": "admin"}
        token = jwt.encode(claims, priv, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})
        tokens.append({"alg": alg, "token": token})
    print(json.dumps({"jwks": {"keys": keys}, "tokens": tokens}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "verify":
        verify(*args)
    elif mode == "sign":
        sign(args[0], args[1], args[2:])
    else:
        raise SystemExit("usage: interop.py verify|sign ...")
