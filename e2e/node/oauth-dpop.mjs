// DPoP (RFC 9449) and resource indicators (RFC 8707) with npm oauth4webapi,
// for e2e/dpop_test.go, against examples/authservice and
// examples/resourceservice.
//
//   node oauth-dpop.mjs ISSUER RESOURCE USERNAME PASSWORD
//
// Discovers the authorization server (RFC 8414) and the resource (RFC 9728),
// registers a public client (RFC 7591), runs the authorization code flow with
// PKCE, dpop_jkt and resource (playing the browser: it posts the login form),
// calls RESOURCE/hello and /admin with DPoP proofs, replays one proof,
// presents the token as a bearer token, refreshes with DPoP, and refreshes
// without a proof. Prints one JSON object with what it saw; exits non-zero
// when a step the library checks fails.
import * as oauth from 'oauth4webapi';
import { signIn } from './browser.mjs';

const [issuerArg, resourceArg, username, password] = process.argv.slice(2);
if (!issuerArg || !resourceArg || !username || !password) {
  console.error('usage: oauth-dpop.mjs ISSUER RESOURCE USERNAME PASSWORD');
  process.exit(2);
}
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http in the test
const issuer = new URL(issuerArg);
const out = {};

// RFC 8414 discovery.
const as = await oauth.processDiscoveryResponse(issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
out.discovery = {
  authorization_endpoint: as.authorization_endpoint,
  registration_endpoint: as.registration_endpoint,
  code_challenge_methods_supported: as.code_challenge_methods_supported,
  dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported,
};

// RFC 9728: the resource names its authorization server.
const rs = await oauth.processResourceDiscoveryResponse(new URL(resourceArg),
  await oauth.resourceDiscoveryRequest(new URL(resourceArg), insecure));
out.resource_metadata = { resource: rs.resource, authorization_servers: rs.authorization_servers };

// RFC 7591: a public client with a loopback redirect URI.
const redirectURI = 'http://127.0.0.1:8976/callback';
const client = await oauth.processDynamicClientRegistrationResponse(
  await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'oauth4webapi e2e',
    redirect_uris: [redirectURI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }, insecure));
out.client_id = client.client_id;
const clientAuth = oauth.None();

// The DPoP key of this client, and a record of every request's headers so
// that a proof can be replayed.
const keyPair = await oauth.generateKeyPair('ES256');
const dpop = oauth.DPoP(client, keyPair);
const sent = [];
const recording = {
  ...insecure,
  [oauth.customFetch]: (url, init) => {
    sent.push({ url: String(url), headers: new Headers(init.headers) });
    return fetch(url, init);
  },
};

// The authorization request: PKCE, the resource, and dpop_jkt (RFC 9449
// §10), which binds the code to this key.
const verifier = oauth.generateRandomCodeVerifier();
const state = oauth.generateRandomState();
const authURL = new URL(as.authorization_endpoint);
authURL.search = new URLSearchParams({
  response_type: 'code',
  client_id: client.client_id,
  redirect_uri: redirectURI,
  code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  resource: resourceArg,
  dpop_jkt: await dpop.calculateThumbprint(),
}).toString();

// The browser: the login page, then the form posted back to the same URL.
const callback = oauth.validateAuthResponse(as, client, await signIn(authURL, username, password, out), state);

// The token request with a proof; a server that wants a nonce gets one retry.
async function withNonceRetry(f) {
  try {
    return await f();
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) {
      return await f();
    }
    throw err;
  }
}
const tokens = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(as, client,
  await oauth.authorizationCodeGrantRequest(as, client, clientAuth, callback, redirectURI, verifier,
    { DPoP: dpop, additionalParameters: { resource: resourceArg }, ...insecure })));
out.token_type = tokens.token_type;
out.access_token_claims = claimsOf(tokens.access_token);

// The resource with proofs.
async function call(path, accessToken) {
  const res = await oauth.protectedResourceRequest(accessToken, 'GET', new URL(path, resourceArg), undefined, undefined,
    { DPoP: dpop, ...recording });
  return { status: res.status, body: await res.json() };
}
out.hello = await call('/hello', tokens.access_token);
out.admin = await call('/admin', tokens.access_token);

// The last proof, sent again with its token: a replay.
const last = sent[sent.length - 1];
out.replay = await raw(last.url, { authorization: last.headers.get('authorization'), dpop: last.headers.get('dpop') });

// The DPoP-bound token presented as a bearer token.
out.as_bearer = await raw(new URL('/hello', resourceArg), { authorization: 'Bearer ' + tokens.access_token });

// The DPoP-bound token without a proof.
out.without_proof = await raw(new URL('/hello', resourceArg), { authorization: 'DPoP ' + tokens.access_token });

// Refresh with a proof of the same key: a new bound token that works.
const refreshed = await withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
  await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token,
    { DPoP: dpop, additionalParameters: { resource: resourceArg }, ...insecure })));
out.refresh = { token_type: refreshed.token_type, claims: claimsOf(refreshed.access_token) };
out.refreshed_hello = await call('/hello', refreshed.access_token);

// Refresh of a public client's DPoP-bound refresh token: with no proof, and
// with a proof of another key, it is refused (RFC 9449 §5).
const form = (rt) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: client.client_id });
out.refresh_without_proof = await raw(as.token_endpoint, { 'content-type': 'application/x-www-form-urlencoded' }, 'POST',
  form(refreshed.refresh_token));
const otherKey = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
try {
  await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token, { DPoP: otherKey, ...insecure }));
  out.refresh_other_key = { status: 200 };
} catch (err) {
  out.refresh_other_key = { status: err.status, error: err.error };
}

console.log(JSON.stringify(out));

// raw sends a request as given and reports the status, the error of its
// challenge or body, and its WWW-Authenticate.
async function raw(url, headers, method = 'GET', body = undefined) {
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let error;
  try {
    error = JSON.parse(text).error;
  } catch {
    // not JSON
  }
  return { status: res.status, error, www_authenticate: res.headers.get('www-authenticate') };
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}
