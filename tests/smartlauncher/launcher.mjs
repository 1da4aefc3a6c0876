// A small SMART on FHIR EHR simulator for the integration tests: an EHR launch page, an
// OAuth 2.0 authorization server (SMART App Launch 2.0, public clients, PKCE S256) and a FHIR
// proxy that enforces the token, its patient compartment and its scopes, in front of the
// loopback FHIR server (tests/fhirserver). Written from the specification, plain node:http
// and node:crypto, no dependencies.
//
// Usage: node launcher.mjs --fhir <upstream FHIR base> --fhir-token <its bearer token>
//                          [--client <client_id>=<redirect_uri>]... [--app <launch URL>]
// Prints "LISTENING <port>" once it accepts connections (port chosen by the OS).
//
// Each simulated server lives under /sim/<config>/ where <config> is base64url JSON chosen by
// the test (an empty object is the well-behaved default):
//   v1: true          capabilities without permission-v2 (the app must send v1 scopes)
//   deny: "all"       the user declines: authorize answers error=access_denied
//   withhold: [...]   scopes not granted, by prefix ("patient/Observation")
//   lifetime: <s>     access token lifetime in seconds (0: expired at once); default 3600
//   fhir: "401" | "403" | "500" | "timeout"   every FHIR read answers so (timeout: never)
//   patient: <id>     the patient a standalone launch (scope launch/patient) selects
// So: iss = {base}/sim/<config>/fhir, authorize and token under {base}/sim/<config>/auth/.
//
// EHR side: GET /ehr?app=<launch URL>&patient=<id>[&sim=<config>][&appContext=...]
// [&banner=0][&frame=0] registers a launch and shows a simulated EHR page with the app in
// a 1024x768 iframe (frame=0: redirects the whole window instead).
// Test control, no token: POST /__admin/clients {client_id, redirect_uris},
// POST /__admin/patients [{id, label}] (listed on GET /), GET /__admin/requests (FHIR reads
// and authorization requests with their scopes), GET /__admin/tokens (access tokens issued).
import crypto from 'node:crypto';
import http from 'node:http';

function argument(name) {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function allArguments(name) {
  return process.argv.flatMap((value, index) => (process.argv[index - 1] === name ? [value] : []));
}

const upstream = (argument('--fhir') || '').replace(/\/+$/, '');
const upstreamToken = argument('--fhir-token') || '';
const defaultApp = argument('--app') || '';
if (!upstream) {
  process.stderr.write('launcher.mjs: --fhir <FHIR base URL> is required\n');
  process.exit(2);
}

const clients = new Map(); // client_id -> Set of redirect URIs
for (const entry of allArguments('--client')) {
  const [id, uri] = entry.split(/=(.*)/s);
  clients.set(id, new Set([uri]));
}
const launches = new Map(); // launch id -> {patient, appContext, needPatientBanner}
const codes = new Map(); // code -> grant, used once
const tokens = new Map(); // access token -> {patient, scopes, expiresAt}
let patients = [];
const requests = [];
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const CODE_LIFETIME_MS = 60_000;

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');
const randomId = (bytes = 24) => b64url(crypto.randomBytes(bytes));

function decodeSim(text) {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function corsHeaders(request) {
  return {
    'Access-Control-Allow-Origin': request.headers.origin || '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept',
    'Access-Control-Expose-Headers': 'WWW-Authenticate',
    'Access-Control-Max-Age': '600',
    Vary: 'Origin',
  };
}

function send(request, response, status, body, headers = {}) {
  const json = typeof body !== 'string';
  response.writeHead(status, {
    'Content-Type': json ? 'application/json' : 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    ...corsHeaders(request),
    ...headers,
  });
  response.end(json ? JSON.stringify(body) : body);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

function redirect(response, url) {
  response.writeHead(302, { Location: url, 'Cache-Control': 'no-store' });
  response.end();
}

async function readBody(request) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > 1_000_000) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function baseUrl(request) {
  return `http://${request.headers.host}`;
}

// --- discovery -----------------------------------------------------------------------

function smartConfiguration(sim, simBase) {
  const capabilities = [
    'launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient', 'context-standalone-patient',
    'sso-openid-connect', 'permission-patient', 'permission-user', sim.v1 ? 'permission-v1' : 'permission-v2',
  ];
  return {
    issuer: `${simBase}/fhir`,
    authorization_endpoint: `${simBase}/auth/authorize`,
    token_endpoint: `${simBase}/auth/token`,
    token_endpoint_auth_methods_supported: ['none'],
    grant_types_supported: ['authorization_code'],
    response_types_supported: ['code'],
    scopes_supported: ['openid', 'fhirUser', 'launch', 'launch/patient', 'patient/*.rs', 'patient/*.read'],
    code_challenge_methods_supported: ['S256'],
    capabilities,
  };
}

// --- scopes -----------------------------------------------------------------------------

function parseScopes(text) {
  return String(text || '').split(/\s+/).filter(Boolean);
}

// Whether granted scopes allow `permission` ("r" read, "s" search) on a resource type.
function allows(scopes, type, permission) {
  return scopes.some((scope) => {
    const match = /^(patient|user)\/(\*|[A-Za-z]+)\.([a-z*]+)$/.exec(scope);
    if (!match || (match[2] !== '*' && match[2] !== type)) return false;
    const granted = match[3];
    if (granted === '*' || granted === 'read') return true;
    return /^c?r?u?d?s?$/.test(granted) && granted.includes(permission);
  });
}

// --- authorization server ---------------------------------------------------------------

function authorize(request, response, sim, simBase, query) {
  const clientId = query.get('client_id') || '';
  const redirectUri = query.get('redirect_uri') || '';
  const registered = clients.get(clientId);
  // An unknown client or redirect URI is never redirected to (RFC 6749 4.1.2.1).
  if (!registered) {
    return send(request, response, 400, `<!doctype html><title>Unknown app</title><h1>Unknown app</h1><p>No app is registered with client_id ${escapeHtml(clientId)}.</p>`);
  }
  if (!registered.has(redirectUri)) {
    return send(request, response, 400, `<!doctype html><title>Unknown redirect</title><h1>Redirect URI not registered</h1><p>${escapeHtml(redirectUri)} is not registered for this app.</p>`);
  }
  const state = query.get('state');
  const back = (params) => {
    const url = new URL(redirectUri);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    if (state) url.searchParams.set('state', state);
    return redirect(response, url.href);
  };
  const invalid = (description) => back({ error: 'invalid_request', error_description: description });
  if (query.get('response_type') !== 'code') return back({ error: 'unsupported_response_type' });
  if (!state) return invalid('state is required');
  if (query.get('aud') !== `${simBase}/fhir`) return invalid('aud must be this FHIR server\'s base URL');
  if (query.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(query.get('code_challenge') || '')) {
    return invalid('PKCE with code_challenge_method S256 is required');
  }
  const requested = parseScopes(query.get('scope'));
  requests.push({ method: 'GET', path: 'authorize', scope: requested.join(' '), standalone: !query.get('launch') });
  let context;
  if (requested.includes('launch')) {
    context = launches.get(query.get('launch') || '');
    if (!context) return invalid('unknown or missing launch');
  } else if (requested.includes('launch/patient')) {
    if (!sim.patient) return invalid('no patient to select');
    context = { patient: sim.patient, needPatientBanner: true };
  } else {
    return invalid('this simulator needs a launch or launch/patient scope');
  }
  if (sim.deny === 'all') return back({ error: 'access_denied', error_description: 'The user declined access' });
  const withheld = Array.isArray(sim.withhold) ? sim.withhold : [];
  const granted = requested.filter((scope) => !withheld.some((prefix) => scope.startsWith(prefix)));
  const code = randomId();
  codes.set(code, {
    clientId, redirectUri, challenge: query.get('code_challenge'), scopes: granted, context,
    sim, simBase, expiresAt: Date.now() + CODE_LIFETIME_MS,
  });
  return back({ code });
}

function idToken(grant, clientId) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'sim' }));
  const payload = b64url(JSON.stringify({
    iss: `${grant.simBase}/fhir`, sub: 'sim-user', aud: clientId, iat: now, exp: now + 300,
    fhirUser: `${grant.simBase}/fhir/Practitioner/sim-user`,
  }));
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), privateKey);
  return `${header}.${payload}.${b64url(signature)}`;
}

async function token(request, response) {
  const fail = (status, error, description) => send(request, response, status,
    { error, error_description: description }, { Pragma: 'no-cache' });
  if (!(request.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
    return fail(400, 'invalid_request', 'send the token request form-encoded');
  }
  const form = new URLSearchParams(await readBody(request));
  if (form.get('grant_type') !== 'authorization_code') return fail(400, 'unsupported_grant_type', 'only authorization_code');
  const code = form.get('code') || '';
  const grant = codes.get(code);
  codes.delete(code); // one use, whatever the outcome
  if (!grant || grant.expiresAt < Date.now()) return fail(400, 'invalid_grant', 'unknown, used or expired code');
  if (form.get('client_id') !== grant.clientId) return fail(400, 'invalid_client', 'client_id does not match the code');
  if (form.get('redirect_uri') !== grant.redirectUri) return fail(400, 'invalid_grant', 'redirect_uri does not match');
  const verifier = form.get('code_verifier') || '';
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)
      || b64url(crypto.createHash('sha256').update(verifier).digest()) !== grant.challenge) {
    return fail(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
  }
  const lifetime = Number.isFinite(grant.sim.lifetime) ? grant.sim.lifetime : 3600;
  const accessToken = randomId(32);
  tokens.set(accessToken, {
    patient: grant.context.patient, scopes: grant.scopes, expiresAt: Date.now() + lifetime * 1000, sim: grant.sim,
  });
  const answer = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: lifetime,
    scope: grant.scopes.join(' '),
    patient: grant.context.patient,
    need_patient_banner: grant.context.needPatientBanner !== false,
  };
  if (grant.context.appContext) answer.appContext = grant.context.appContext;
  if (grant.scopes.includes('openid') && grant.scopes.includes('fhirUser')) answer.id_token = idToken(grant, grant.clientId);
  return send(request, response, 200, answer, { Pragma: 'no-cache' });
}

// --- FHIR proxy ---------------------------------------------------------------------------

function compartmentCheck(path, query, session) {
  // Patient/<id>: a read of the patient in context; <Type>?patient=<id>: a search in it.
  const read = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(path);
  if (read) {
    if (read[1] !== session.patient) return 'another patient';
    return allows(session.scopes, 'Patient', 'r') ? null : 'scope does not allow reading Patient';
  }
  const search = /^([A-Z][A-Za-z]+)$/.exec(path);
  if (!search) return 'only Patient/<id> reads and searches are simulated';
  const patient = query.get('patient') || '';
  if (patient !== session.patient && patient !== `Patient/${session.patient}`) {
    return 'searches must name the patient in context';
  }
  return allows(session.scopes, search[1], 's') ? null : `scope does not allow searching ${search[1]}`;
}

async function fhir(request, response, sim, simBase, rest, query) {
  const record = { method: request.method, path: rest, authorized: false };
  requests.push(record);
  if (rest === '.well-known/smart-configuration') return send(request, response, 200, smartConfiguration(sim, simBase));
  if (request.method !== 'GET') return send(request, response, 405, outcome('not-supported', 'read only'));
  const header = request.headers.authorization || '';
  const session = header.startsWith('Bearer ') ? tokens.get(header.slice(7)) : undefined;
  const unauthorized = (text) => send(request, response, 401, outcome('login', text),
    { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  if (!session) return unauthorized('missing or unknown access token');
  if (session.expiresAt <= Date.now()) return unauthorized('the access token has expired');
  record.authorized = true;
  if (sim.fhir === '401') return unauthorized('the access token was revoked');
  if (sim.fhir === '403') return send(request, response, 403, outcome('forbidden', 'access refused'));
  if (sim.fhir === '500') return send(request, response, 500, outcome('exception', 'server error'));
  if (sim.fhir === 'timeout') {
    const timer = setTimeout(() => send(request, response, 504, outcome('timeout', 'too late')), 120_000);
    request.on('close', () => clearTimeout(timer));
    return undefined;
  }
  const refused = compartmentCheck(rest, query, session);
  if (refused) return send(request, response, 403, outcome('forbidden', refused));
  const target = `${upstream}/${rest}${query.toString() ? `?${query}` : ''}`;
  const answer = await fetch(target, { headers: { Authorization: `Bearer ${upstreamToken}`, Accept: 'application/fhir+json' } });
  const text = (await answer.text()).replaceAll(upstream, `${simBase}/fhir`);
  response.writeHead(answer.status, { 'Content-Type': 'application/fhir+json', 'Cache-Control': 'no-store', ...corsHeaders(request) });
  return response.end(text);
}

// --- the simulated EHR ------------------------------------------------------------------

function ehrPage(request, response, query) {
  const app = query.get('app') || defaultApp;
  const patient = query.get('patient') || '';
  if (!app || !patient) return send(request, response, 400, '<!doctype html><p>app and patient are required</p>');
  const simText = query.get('sim') || b64url('{}');
  const launch = randomId(12);
  launches.set(launch, {
    patient, appContext: query.get('appContext') || undefined, needPatientBanner: query.get('banner') !== '0',
  });
  const url = new URL(app);
  url.searchParams.set('iss', `${baseUrl(request)}/sim/${simText}/fhir`);
  url.searchParams.set('launch', launch);
  if (query.get('frame') === '0') return redirect(response, url.href);
  const label = patients.find((p) => p.id === patient)?.label || patient;
  return send(request, response, 200, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Simulated EHR: ${escapeHtml(label)}</title>
<style>body{margin:0;font:14px system-ui,sans-serif;background:#dfe3e8}header{padding:6px 12px;background:#2b3a4a;color:#fff}
iframe{display:block;margin:8px;border:1px solid #8a96a3;background:#fff}</style></head>
<body><header>Simulated EHR &middot; patient ${escapeHtml(label)} (${escapeHtml(patient)})</header>
<iframe id="app" title="Results over time" width="1024" height="768" src="${escapeHtml(url.href)}"></iframe>
</body></html>`);
}

function indexPage(request, response) {
  const simText = b64url('{}');
  const rows = patients.map((p) => {
    const link = `/ehr?patient=${encodeURIComponent(p.id)}&sim=${simText}`;
    return `<li><a href="${escapeHtml(link)}">${escapeHtml(p.label || p.id)}</a></li>`;
  }).join('\n');
  return send(request, response, 200, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Simulated EHR</title></head><body><h1>Simulated EHR</h1>
<p>Choose a patient: the EHR launches the app (${escapeHtml(defaultApp || 'no --app given')}) in a 1024x768 frame.</p>
<ul>${rows}</ul></body></html>`);
}

async function admin(request, response, path) {
  if (request.method === 'POST' && path === '/__admin/clients') {
    const body = JSON.parse(await readBody(request));
    clients.set(body.client_id, new Set(body.redirect_uris));
    return send(request, response, 200, { ok: true });
  }
  if (request.method === 'POST' && path === '/__admin/patients') {
    patients = JSON.parse(await readBody(request));
    return send(request, response, 200, { stored: patients.length });
  }
  if (request.method === 'GET' && path === '/__admin/requests') return send(request, response, 200, requests);
  // The tokens issued so far, for the tests' check that none ever reaches the app's own server.
  if (request.method === 'GET' && path === '/__admin/tokens') return send(request, response, 200, [...tokens.keys()]);
  return send(request, response, 404, outcome('not-found', `no admin endpoint ${path}`));
}

async function route(request, response) {
  const url = new URL(request.url, baseUrl(request));
  const path = url.pathname;
  if (request.method === 'OPTIONS') {
    response.writeHead(204, corsHeaders(request));
    return response.end();
  }
  if (path.startsWith('/__admin/')) return admin(request, response, path);
  if (path === '/ehr') return ehrPage(request, response, url.searchParams);
  if (path === '/') return indexPage(request, response);
  const match = /^\/sim\/([A-Za-z0-9_-]+)\/(fhir|auth)\/(.*)$/.exec(path);
  const sim = match ? decodeSim(match[1]) : null;
  if (!sim) return send(request, response, 404, outcome('not-found', `no route for ${path}`));
  const simBase = `${baseUrl(request)}/sim/${match[1]}`;
  if (match[2] === 'fhir') return fhir(request, response, sim, simBase, match[3], url.searchParams);
  if (match[3] === 'authorize' && request.method === 'GET') return authorize(request, response, sim, simBase, url.searchParams);
  if (match[3] === 'token' && request.method === 'POST') return token(request, response);
  return send(request, response, 404, outcome('not-found', `no route for ${path}`));
}

const server = http.createServer((request, response) => {
  route(request, response).catch((error) => {
    if (!response.headersSent) send(request, response, 500, outcome('exception', String(error && error.message)));
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
