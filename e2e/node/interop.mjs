// Interop driver for e2e/interop_test.go, using npm jose.
//
//   node interop.mjs verify JWKS_URL ISSUER AUDIENCE   < tokens (one "ALG TOKEN" per line)
//     prints one JSON line per token: {"alg","ok","sub"|"error"}
//   node interop.mjs sign ISSUER AUDIENCE ALG...
//     prints {"jwks":{"keys":[…]},"tokens":[{"alg","token"}]}, each key new
import { createRemoteJWKSet, jwtVerify, generateKeyPair, exportJWK, SignJWT } from 'jose';
import { readFileSync } from 'node:fs';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'verify') {
  const [jwksURL, issuer, audience] = args;
  const jwks = createRemoteJWKSet(new URL(jwksURL));
  const lines = readFileSync(0, 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    const [alg, token] = line.split(' ');
    try {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, algorithms: [alg] });
      console.log(JSON.stringify({ alg, ok: protectedHeader.alg === alg, sub: payload.sub }));
    } catch (e) {
      console.log(JSON.stringify({ alg, ok: false, error: String(e && e.code || e) }));
    }
  }
} else if (mode === 'sign') {
  const [issuer, audience, ...algs] = args;
  const keys = [];
  const tokens = [];
  for (const alg of algs) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const kid = 'jose-' + alg;
    keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .setIssuer(issuer).setAudience(audience).setSubject('jose-' + alg)
      .setIssuedAt().setExpirationTime('5m')
      .sign(privateKey);
    tokens.push({ alg, token });
  }
  console.log(JSON.stringify({ jwks: { keys }, tokens }));
} else {
  console.error('usage: interop.mjs verify|sign …');
  process.exit(2);
}
