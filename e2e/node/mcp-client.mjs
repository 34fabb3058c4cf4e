// The MCP TypeScript SDK's client with its OAuth support, for
// e2e/mcp_test.go, against examples/mcpserver and examples/authservice.
//
//   node mcp-client.mjs MCP_URL USERNAME PASSWORD
//
// Connects to MCP_URL with StreamableHTTPClientTransport and an
// OAuthClientProvider: the SDK meets the 401, reads the protected-resource
// metadata, then the authorization server's metadata, registers a client and
// sends the user to the authorization URL. This script plays the browser
// there (it posts the login form), hands the code back with finishAuth,
// connects again and calls the tool whoami. Prints one JSON object: every
// HTTP request the SDK made (method, URL, status), the registered client, the
// authorization request's parameters, the token response's type and scope,
// and whoami's answer.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { signIn } from './browser.mjs';

const [mcpURL, username, password] = process.argv.slice(2);
if (!mcpURL || !username || !password) {
  console.error('usage: mcp-client.mjs MCP_URL USERNAME PASSWORD');
  process.exit(2);
}
const out = { requests: [] };

// Every request the SDK makes, in order.
const logged = async (url, init) => {
  const res = await fetch(url, init);
  out.requests.push({ method: init?.method ?? 'GET', url: String(url), status: res.status });
  return res;
};

// An OAuthClientProvider that keeps everything in memory and, instead of
// opening a browser, records the authorization URL.
class Provider {
  constructor() {
    this.authorizationURL = undefined;
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
  }
  get redirectUrl() { return 'http://127.0.0.1:8977/callback'; }
  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK e2e',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return 'mcp-e2e-state'; }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  redirectToAuthorization(url) { this.authorizationURL = url; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

const provider = new Provider();
const transport = () => new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider, fetch: logged });

const first = transport();
const client = new Client({ name: 'guard-e2e', version: '1.0.0' });
try {
  await client.connect(first);
  throw new Error('connected without signing in');
} catch (err) {
  if (!(err instanceof UnauthorizedError)) {
    throw err;
  }
}
if (!provider.authorizationURL) {
  throw new Error('the SDK did not send the user to the authorization server');
}
out.client_id = provider.client?.client_id;
out.authorization_request = Object.fromEntries(provider.authorizationURL.searchParams);

// The browser: the login page, then the form posted back to the same URL,
// which redirects to the client's redirect URI with the code.
const callback = (await signIn(provider.authorizationURL, username, password, out)).searchParams;
out.callback = { state: callback.get('state'), iss: callback.get('iss'), has_code: callback.has('code') };

await first.finishAuth(callback.get('code'));
out.token = { token_type: provider.saved?.token_type, scope: provider.saved?.scope, has_refresh_token: !!provider.saved?.refresh_token };

const second = new Client({ name: 'guard-e2e', version: '1.0.0' });
await second.connect(transport());
const tools = await second.listTools();
out.tools = tools.tools.map((t) => t.name);
const answer = await second.callTool({ name: 'whoami', arguments: {} });
out.whoami = { structured: answer.structuredContent, text: answer.content?.[0]?.text, is_error: answer.isError ?? false };
await second.close();

console.log(JSON.stringify(out));
