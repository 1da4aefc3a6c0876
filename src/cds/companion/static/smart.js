// SMART App Launch 2.0 for a public browser client: discovery, PKCE (S256), the authorization
// redirect with a checked `state`, the code exchange, and FHIR reads. The access token is
// kept in memory only: never in the address, never in storage, never sent to the service.

const PENDING = "myelin-companion:pending:"; // sessionStorage: one sign-in in progress per state
const SIGN_IN_LIMIT_MS = 10 * 60 * 1000; // a sign-in not completed by then is not resumed
const MAX_PAGES = 10; // `next` links followed per search

export class AppProblem extends Error {
  constructor(kind, detail = "") {
    super(`${kind}${detail ? `: ${detail}` : ""}`);
    this.kind = kind;
    this.detail = detail;
  }
}

export function readConfig() {
  return JSON.parse(document.body.dataset.config);
}

function parsedUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

// An allow-list entry without a port allows any port, as on the service's side.
export function serverAllowed(text, allowed) {
  const url = parsedUrl(text);
  if (!url || url.username || url.password) return false;
  return allowed.some((entry) => {
    const candidate = parsedUrl(entry);
    if (!candidate || candidate.protocol !== url.protocol || candidate.hostname !== url.hostname) {
      return false;
    }
    const explicit = /^https?:\/\/[^/]+:(\d+)/.exec(entry);
    const defaultPort = url.protocol === "https:" ? "443" : "80";
    return !explicit || explicit[1] === (url.port || defaultPort);
  });
}

async function fetchWithin(url, options, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, { ...options, signal: controller.signal, credentials: "omit", cache: "no-store" });
  } catch (error) {
    if (error && error.name === "AbortError") {
      throw new AppProblem("timeout", String(Math.round(timeoutMs / 1000)));
    }
    throw new AppProblem("unreachable", "no answer (the server refused the connection or is not reachable)");
  } finally {
    clearTimeout(timer);
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomToken(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function fhirBase(iss) {
  return iss.replace(/\/+$/, "");
}

async function discover(iss, timeoutMs) {
  let response;
  try {
    response = await fetchWithin(`${fhirBase(iss)}/.well-known/smart-configuration`,
      { headers: { Accept: "application/json" } }, timeoutMs);
  } catch (problem) {
    throw new AppProblem("discovery-failed", problem.kind === "timeout"
      ? `no answer within ${problem.detail} seconds` : problem.detail);
  }
  if (!response.ok) throw new AppProblem("discovery-failed", `HTTP ${response.status}`);
  try {
    return await response.json();
  } catch {
    throw new AppProblem("discovery-failed", "the answer is not JSON");
  }
}

// Start the sign-in: ask the EHR's authorization server for a code, in this tab.
export async function beginLaunch(config) {
  const iss = config.iss;
  const smart = await discover(iss, config.timeoutMs);
  const methods = Array.isArray(smart.code_challenge_methods_supported) ? smart.code_challenge_methods_supported : [];
  if (!methods.includes("S256")) throw new AppProblem("no-pkce");
  for (const endpoint of [smart.authorization_endpoint, smart.token_endpoint]) {
    if (typeof endpoint !== "string" || !serverAllowed(endpoint, config.allowedServers)) {
      throw new AppProblem("auth-server-not-allowed", typeof endpoint === "string" ? endpoint.slice(0, 200) : "none");
    }
  }
  const capabilities = Array.isArray(smart.capabilities) ? smart.capabilities : [];
  const spelling = capabilities.includes("permission-v2") ? "v2" : "v1";
  const scope = [config.launch ? "launch" : "launch/patient", ...config.scopes[spelling]].join(" ");
  const state = randomToken(32);
  const verifier = randomToken(48);
  sessionStorage.setItem(PENDING + state, JSON.stringify({
    iss, tokenEndpoint: smart.token_endpoint, verifier, scope, created: Date.now(),
  }));
  const url = new URL(smart.authorization_endpoint);
  const params = {
    response_type: "code", client_id: config.clientId, redirect_uri: config.redirectUri, scope, state,
    aud: iss, code_challenge: await s256(verifier), code_challenge_method: "S256",
  };
  if (config.launch) params.launch = config.launch;
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  window.location.replace(url.href);
}

// Finish the sign-in on the redirect URI: check `state`, exchange the code once.
export async function completeLaunch(config) {
  const params = new URLSearchParams(window.location.search);
  const state = params.get("state");
  const code = params.get("code");
  const error = params.get("error");
  history.replaceState(null, "", window.location.pathname); // no code or state left in the address
  if (!state && !code && !error) throw new AppProblem("no-session");
  const key = PENDING + (state || "");
  const saved = state ? sessionStorage.getItem(key) : null;
  sessionStorage.removeItem(key); // one use, whatever happens next
  if (!saved) throw new AppProblem("state-mismatch");
  const pending = JSON.parse(saved);
  if (Date.now() - pending.created > SIGN_IN_LIMIT_MS) throw new AppProblem("state-mismatch");
  if (error) {
    const description = (params.get("error_description") || "").slice(0, 300);
    throw new AppProblem(error === "access_denied" ? "denied" : "authorization-error",
      description ? `${error}: ${description}` : error);
  }
  if (!code) throw new AppProblem("authorization-error", "the EHR sent no authorization code");
  const body = new URLSearchParams({
    grant_type: "authorization_code", code, redirect_uri: config.redirectUri,
    client_id: config.clientId, code_verifier: pending.verifier,
  });
  let response;
  try {
    response = await fetchWithin(pending.tokenEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body,
    }, config.timeoutMs);
  } catch (problem) {
    throw new AppProblem("token-refused", problem.kind === "timeout"
      ? `no answer within ${problem.detail} seconds` : problem.detail);
  }
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    answer = {};
  }
  if (!response.ok || typeof answer.access_token !== "string") {
    const why = [answer.error, answer.error_description].filter((x) => typeof x === "string").join(": ");
    throw new AppProblem("token-refused", (why || `HTTP ${response.status}`).slice(0, 300));
  }
  if (String(answer.token_type || "").toLowerCase() !== "bearer") {
    throw new AppProblem("token-refused", "the EHR issued a token type other than Bearer");
  }
  if (typeof answer.patient !== "string" || !answer.patient) throw new AppProblem("no-patient");
  return {
    iss: pending.iss,
    accessToken: answer.access_token,
    patient: answer.patient,
    // RFC 6749: a server may leave out `scope` when it granted exactly what was asked for.
    scope: typeof answer.scope === "string" ? answer.scope : pending.scope,
    expiresAt: Number.isFinite(answer.expires_in) ? Date.now() + answer.expires_in * 1000 : null,
    needPatientBanner: answer.need_patient_banner !== false,
    appContext: typeof answer.appContext === "string" ? answer.appContext : null,
  };
}

// Whether the granted scopes let the app read (`r`) or search (`s`) a resource type; v1
// (`.read`, `.*`) and v2 (`.rs`) spellings, `patient/` and `user/` scopes, `*` types.
export function mayRead(scope, type, permission) {
  for (const item of scope.split(/\s+/)) {
    const match = /^(patient|user)\/(\*|[A-Za-z]+)\.([^?]+)/.exec(item);
    if (!match || (match[2] !== "*" && match[2] !== type)) continue;
    const granted = match[3];
    if (granted === "*" || granted === "read") return true;
    if (/^c?r?u?d?s?$/.test(granted) && granted.includes(permission)) return true;
  }
  return false;
}

export class FhirReader {
  constructor(session, timeoutMs) {
    this.base = fhirBase(session.iss);
    this.origin = new URL(this.base).origin;
    this.session = session;
    this.timeoutMs = timeoutMs;
  }

  async get(url) {
    let response;
    try {
      response = await fetchWithin(url, {
        headers: { Accept: "application/fhir+json", Authorization: `Bearer ${this.session.accessToken}` },
      }, this.timeoutMs);
    } catch (problem) {
      throw new AppProblem(problem.kind === "timeout" ? "fhir-timeout" : "fhir-unreachable", problem.detail);
    }
    if (response.status === 401) throw new AppProblem("session-expired");
    if (response.status === 403) throw new AppProblem("fhir-refused", "HTTP 403 Forbidden");
    if (!response.ok) throw new AppProblem("fhir-error", `HTTP ${response.status}`);
    try {
      return await response.json();
    } catch {
      throw new AppProblem("fhir-error", "an answer that is not JSON");
    }
  }

  read(path) {
    return this.get(`${this.base}/${path}`);
  }

  // Every page of a search (up to MAX_PAGES), `next` links followed only on the server's origin.
  async search(type, query) {
    const first = new URL(`${this.base}/${type}`);
    for (const [key, value] of Object.entries(query)) first.searchParams.set(key, value);
    const entries = [];
    let url = first.href;
    let bundle = null;
    for (let page = 0; url && page < MAX_PAGES; page += 1) {
      bundle = await this.get(url);
      if (!bundle || bundle.resourceType !== "Bundle") throw new AppProblem("fhir-error", `a ${type} search answered without a Bundle`);
      entries.push(...(Array.isArray(bundle.entry) ? bundle.entry : []));
      const next = (Array.isArray(bundle.link) ? bundle.link : []).find((link) => link && link.relation === "next");
      url = next && typeof next.url === "string" && new URL(next.url, this.base).origin === this.origin ? next.url : null;
    }
    // `url` still set: more pages than the app reads; the reading says the list is partial.
    return { bundle: { resourceType: "Bundle", type: "searchset", entry: entries }, complete: !url };
  }
}
