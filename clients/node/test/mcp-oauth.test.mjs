// The MCP TypeScript SDK connecting to /mcp the way an MCP client does
// on first use: its 401 leads the SDK through discovery (RFC 9728, RFC
// 8414), dynamic client registration (RFC 7591), authorization code +
// PKCE (the person's consent driven here with fetch), the token
// exchange, and then a tool call with the bearer token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { baseURL, apiKey, videoURL, assertSummary } from '../env.mjs';

// An OAuthClientProvider that keeps everything in memory and, instead of
// opening a browser, remembers where it would have sent the person.
class MemoryProvider {
  constructor() { this.redirects = []; }
  get redirectUrl() { return 'http://127.0.0.1:8976/callback'; }
  get clientMetadata() {
    return {
      client_name: 'Recap node test agent',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return 'state-' + this.redirects.length; }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.savedTokens; }
  saveTokens(tokens) { this.savedTokens = tokens; }
  redirectToAuthorization(url) { this.redirects.push(url); }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

function unescapeHTML(s) {
  return s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// consent is the person at the browser: open the authorization URL, sign
// in with an API key, approve every scope offered, and return the code
// the browser would bring back to the redirect URI.
async function consent(authURL, state) {
  const page = await fetch(authURL);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(html, /Recap node test agent/);
  const action = new URL(unescapeHTML(html.match(/<form method="post" action="([^"]*)">/)[1]), page.url);
  const form = new URLSearchParams({ api_key: apiKey, decision: 'approve' });
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    form.append(unescapeHTML(name), unescapeHTML(value));
  }
  for (const [, scope] of html.matchAll(/name="grant" value="([^"]*)"/g)) form.append('grant', scope);
  const res = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(res.status, 303, await res.text());
  const back = new URL(res.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, 'http://127.0.0.1:8976/callback');
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(back.searchParams.get('iss'), baseURL);
  return back.searchParams.get('code');
}

// typeArrays lists the places in a JSON schema whose "type" is an array.
function typeArrays(schema, path = '$') {
  if (!schema || typeof schema !== 'object') return [];
  const out = Array.isArray(schema.type) ? [path] : [];
  for (const [k, v] of Object.entries(schema)) out.push(...typeArrays(v, `${path}.${k}`));
  return out;
}

test('MCP SDK: discovery, dynamic registration, code + PKCE, tool call', async () => {
  const mcpURL = new URL(`${baseURL}/mcp`);
  const provider = new MemoryProvider();

  // First contact: 401, and the SDK registers and starts authorization.
  await assert.rejects(
    new Client({ name: 'recap-node-test', version: '1.0.0' }).connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })),
    UnauthorizedError,
  );
  assert.match(provider.client?.client_id ?? '', /^rcpc_/, 'the SDK registered no client');
  assert.equal(provider.client.token_endpoint_auth_method, 'none');
  assert.equal(provider.redirects.length, 1);
  const authURL = provider.redirects[0];
  assert.equal(`${authURL.origin}${authURL.pathname}`, `${baseURL}/api/auth/authorize`);
  assert.equal(authURL.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authURL.searchParams.get('client_id'), provider.client.client_id);

  // The person approves; the SDK exchanges the code.
  const code = await consent(authURL, authURL.searchParams.get('state'));
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider });
  await transport.finishAuth(code);
  assert.match(provider.savedTokens?.access_token ?? '', /^rcpat_/);
  assert.equal(provider.savedTokens.token_type, 'Bearer');
  assert.ok(provider.savedTokens.refresh_token);

  // Connected with the token: the tools, then a call.
  const client = new Client({ name: 'recap-node-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: provider }));
  try {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.ok(byName.summarize_video && byName.get_job, tools.map((t) => t.name).join(' '));
    for (const t of tools) {
      assert.deepEqual(typeArrays(t.inputSchema), [], `${t.name} input schema`);
      assert.deepEqual(typeArrays(t.outputSchema), [], `${t.name} output schema`);
    }
    for (const p of ['start', 'end']) {
      assert.ok(byName.summarize_video.inputSchema.properties[p].type, `summarize_video.${p} has no type`);
    }
    const res = await client.callTool({ name: 'summarize_video', arguments: { url: videoURL } });
    assert.notEqual(res.isError, true, JSON.stringify(res.content));
    assertSummary(res.structuredContent.markdown);
    const job = await client.callTool({ name: 'get_job', arguments: { job_id: res.structuredContent.job_id } });
    assert.notEqual(job.isError, true, JSON.stringify(job.content));
    assert.equal(job.structuredContent.state, 'succeeded');
  } finally {
    await client.close();
  }
});
