// The page's client of Recap's JSON API (same origin): credentials, error
// words, and the OAuth2 code + PKCE sign-in of a public client.

const KEY_STORE = 'recap.key';
const OAUTH_STORE = 'recap.oauth';
const PKCE_STORE = 'recap.pkce';

/** APIError is an error reply, worded as the API worded it. */
export class APIError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code || '';
  }
}

/**
 * errorOf reads an error reply: OpenAI's shape (/v1), the BibiGPT seed's
 * ({"error": "<message>", "code", …} under /api/v1), or OAuth's.
 */
export async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: fall through
  }
  if (body && typeof body.error === 'object' && body.error && typeof body.error.message === 'string') {
    return new APIError(resp.status, body.error.message, String(body.error.code ?? ''));
  }
  if (body && typeof body.error === 'string') {
    return new APIError(resp.status, body.error_description || body.error, String(body.code ?? body.error));
  }
  return new APIError(resp.status, `The server answered ${resp.status} ${resp.statusText}.`.replace(' .', '.'), '');
}

/** Credentials hold the pasted key or the signed-in tokens. */
export class Credentials {
  constructor(clientID) {
    this.clientID = clientID;
    this.key = '';
    try {
      this.oauth = JSON.parse(sessionStorage.getItem(OAUTH_STORE) || 'null');
    } catch {
      this.oauth = null;
    }
  }

  /** rememberedKey is the key kept in localStorage, if the person asked. */
  static rememberedKey() {
    try {
      return localStorage.getItem(KEY_STORE) || '';
    } catch {
      return '';
    }
  }

  /** remember keeps key in localStorage, or forgets it when key is "". */
  static remember(key) {
    try {
      if (key) localStorage.setItem(KEY_STORE, key);
      else localStorage.removeItem(KEY_STORE);
    } catch {
      // storage disabled: nothing is remembered
    }
  }

  get signedIn() {
    return !!(this.oauth && this.oauth.access_token);
  }

  token() {
    return this.signedIn ? this.oauth.access_token : this.key.trim();
  }

  saveOAuth(tok) {
    this.oauth = tok;
    if (tok) sessionStorage.setItem(OAUTH_STORE, JSON.stringify(tok));
    else sessionStorage.removeItem(OAUTH_STORE);
  }

  /** refresh trades the refresh token for new tokens; false when it cannot. */
  async refresh() {
    if (!this.oauth || !this.oauth.refresh_token || !this.clientID) return false;
    const resp = await fetch('/api/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.oauth.refresh_token, client_id: this.clientID }),
    });
    if (!resp.ok) {
      this.saveOAuth(null);
      return false;
    }
    this.saveOAuth(await resp.json());
    return true;
  }
}

/**
 * request calls the API with the credentials and returns the response when
 * it is 2xx; otherwise it throws the API's error. A signed-in page whose
 * access token expired refreshes it once and retries.
 */
export async function request(creds, path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = creds.token();
    if (!token) throw new APIError(401, 'Paste an API key, or sign in, first.', 'missing_key');
    const headers = new Headers(init.headers || {});
    headers.set('Authorization', 'Bearer ' + token);
    if (init.body && !headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    const resp = await fetch(path, { ...init, headers });
    if (resp.ok) return resp;
    if (resp.status === 401 && attempt === 0 && creds.signedIn && (await creds.refresh())) continue;
    throw await errorOf(resp);
  }
}

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return base64url(b);
}

/** redirectURI is the page's own URL, the one the client is registered with. */
export function redirectURI() {
  return location.origin + location.pathname;
}

/** signIn sends the browser to the consent page (authorization code + PKCE). */
export async function signIn(clientID) {
  if (!crypto.subtle) throw new APIError(0, 'Sign-in needs a secure page (https, or http on localhost).', 'insecure_context');
  const verifier = random(32);
  const state = random(16);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_STORE, JSON.stringify({ verifier, state }));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientID,
    redirect_uri: redirectURI(),
    scope: 'read write',
    state,
    code_challenge: base64url(digest),
    code_challenge_method: 'S256',
  });
  location.assign('/api/auth/authorize?' + q);
}

/**
 * finishSignIn completes a sign-in when the page was opened by the
 * consent page's redirect: it checks state, exchanges the code and cleans
 * the address bar. It returns true when tokens were obtained, false when
 * there was nothing to finish, and throws the words of a failure.
 */
export async function finishSignIn(creds) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return false;
  history.replaceState(null, '', redirectURI());
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(PKCE_STORE) || 'null');
  } catch {
    saved = null;
  }
  sessionStorage.removeItem(PKCE_STORE);
  if (q.has('error')) throw new APIError(0, q.get('error_description') || q.get('error'), q.get('error'));
  if (!saved || saved.state !== q.get('state')) throw new APIError(0, 'The sign-in could not be verified (state mismatch); sign in again.', 'invalid_state');
  const resp = await fetch('/api/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: q.get('code'),
      redirect_uri: redirectURI(),
      code_verifier: saved.verifier,
      client_id: creds.clientID,
    }),
  });
  if (!resp.ok) throw await errorOf(resp);
  creds.saveOAuth(await resp.json());
  return true;
}
