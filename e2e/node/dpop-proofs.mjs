// DPoP proofs (RFC 9449) made by npm dpop, for e2e/dpop_test.go.
//
//   node dpop-proofs.mjs RESOURCE_URL MINT_URL ALG...
//
// For each algorithm: a new key pair, its RFC 7638 thumbprint, an access
// token bound to it (POST MINT_URL with jkt=THUMBPRINT answers the token),
// then GET RESOURCE_URL with "Authorization: DPoP TOKEN" and a proof of the
// key, and three proofs that must fail: one for another method, one without
// ath, and the first proof sent again. Prints one JSON line per algorithm.
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const [resourceURL, mintURL, ...algs] = process.argv.slice(2);
if (!resourceURL || !mintURL || algs.length === 0) {
  console.error('usage: dpop-proofs.mjs RESOURCE_URL MINT_URL ALG...');
  process.exit(2);
}

async function get(token, proof) {
  const res = await fetch(resourceURL, { headers: { authorization: 'DPoP ' + token, dpop: proof } });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, www_authenticate: res.headers.get('www-authenticate') };
}

for (const alg of algs) {
  const keys = await generateKeyPair(alg, { extractable: true });
  const jkt = await calculateThumbprint(keys.publicKey);
  const minted = await fetch(mintURL, { method: 'POST', body: new URLSearchParams({ jkt }) });
  if (minted.status !== 200) {
    throw new Error(`mint: ${minted.status} ${await minted.text()}`);
  }
  const token = await minted.text();
  const proof = await generateProof(keys, resourceURL, 'GET', undefined, token);
  const header = JSON.parse(Buffer.from(proof.split('.')[0], 'base64url').toString());
  const line = { alg, proof_alg: header.alg, jkt };
  line.ok = await get(token, proof);
  line.wrong_method = await get(token, await generateProof(keys, resourceURL, 'POST', undefined, token));
  line.without_ath = await get(token, await generateProof(keys, resourceURL, 'GET'));
  line.replayed = await get(token, proof);
  console.log(JSON.stringify(line));
}
