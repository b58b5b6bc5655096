// The UI's only way to the store: the public REST API under /api/v1 and its
// event stream. With `blockstore serve --token`, the token is asked for once
// and kept for this tab (sessionStorage), sent as `Authorization: Bearer`.

const BASE = '/api/v1';
const TOKEN_KEY = 'blockstore-token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function failure(response) {
  let code = 'http_' + response.status;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(response.status, code, message);
}

/** GETs (or sends) JSON; throws ApiError with the server's message. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: headers({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(BASE + path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** POSTs bytes (a File, a Blob) and reads the JSON answer. */
export async function upload(path, body, contentType) {
  const response = await fetch(BASE + path, {
    method: 'POST',
    body,
    headers: headers({ Accept: 'application/json', 'Content-Type': contentType }),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export function enc(segment) {
  return encodeURIComponent(segment);
}

export function encPath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function collectionPath(slug, rest = '') {
  return `/collections/${enc(slug)}${rest}`;
}

/** The raw bytes' URL of a file in a state (`draft` or a version number). */
export function rawUrl(slug, path, version = 'draft') {
  return `${BASE}/collections/${enc(slug)}/raw/${encPath(path)}?version=${enc(version)}`;
}

/** A file's bytes as text (null when it is larger than `limit`). */
export async function rawText(slug, path, version, limit) {
  const response = await fetch(rawUrl(slug, path, version), { headers: headers() });
  if (!response.ok) throw await failure(response);
  const length = Number(response.headers.get('Content-Length') || 0);
  if (limit && length > limit) {
    response.body?.cancel();
    return null;
  }
  return response.text();
}

/**
 * A URL an <img>/<video> can load: the raw URL itself, or, when a token is
 * needed (elements cannot send headers), a blob: URL of the fetched bytes.
 */
export async function mediaUrl(slug, path, version) {
  const url = rawUrl(slug, path, version);
  if (!token()) return url;
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}

/**
 * Follows /api/v1/events (server-sent events) with fetch, so the token header
 * can be sent; reconnects with backoff. `onEvent(type, data)`; `onState(up)`.
 */
export function followEvents(onEvent, onState) {
  let stopped = false;
  let delay = 500;
  let controller = null;
  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch(BASE + '/events', {
          headers: headers({ Accept: 'text/event-stream' }),
          signal: controller.signal,
          cache: 'no-store',
        });
        if (!response.ok) throw await failure(response);
        onState(true);
        delay = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = 'message';
            const data = [];
            for (const line of frame.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length) {
              let parsed = null;
              try { parsed = JSON.parse(data.join('\n')); } catch { /* keep null */ }
              onEvent(type, parsed);
            }
          }
        }
      } catch (e) {
        if (stopped) return;
        if (e instanceof ApiError && e.status === 401) onState(false, 'needs the token');
      }
      onState(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }
  connect();
  return () => { stopped = true; controller?.abort(); };
}
