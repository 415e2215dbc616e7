// The API client: every call carries the key the user signed in with (kept in sessionStorage,
// never in a URL), and every failure becomes an ApiError with the server's code and message.
const STORE = 'hookline.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The signed-in session: {key, admin: bool, app?: string} or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE));
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(STORE, JSON.stringify(s));
}

/** Forgets the key and everything else this tab kept (the stats range). */
export function signOut() {
  sessionStorage.clear();
}

export async function call(method, path, body, key = session()?.key) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `The server cannot be reached (${e.message}).`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below.
  }
  if (!response.ok) {
    const err = json?.error;
    throw new ApiError(response.status, err?.code || 'http', err?.message || `HTTP ${response.status}`);
  }
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

export const appPath = (app) => `/v1/apps/${encodeURIComponent(app)}`;
export const hookPath = (app, id) => `${appPath(app)}/webhooks/${encodeURIComponent(id)}`;
