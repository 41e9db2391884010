// The dashboard API: JSON calls and server-sent event streams, with the
// bearer token kept in sessionStorage when the server asks for one.

const tokenKey = 'herald.token';
let authPrompt = null; // set by app.js: shows the token dialog, resolves when a token was entered
let pendingAuth = null;
const listeners = new Set();

export function onAuthNeeded(fn) { authPrompt = fn; }
export function token() { return sessionStorage.getItem(tokenKey) || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem(tokenKey, t);
  else sessionStorage.removeItem(tokenKey);
}

// onStatus registers fn(ok, error) for every call's outcome (the connection indicator).
export function onStatus(fn) { listeners.add(fn); }
function status(ok, err) { for (const fn of listeners) fn(ok, err); }

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function needAuth() {
  if (!authPrompt) throw new APIError(401, 'authentication required');
  if (!pendingAuth) pendingAuth = authPrompt().finally(() => { pendingAuth = null; });
  return pendingAuth;
}

// api calls the JSON API; path is relative ("api/overview").
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      status(false, 'The dashboard server cannot be reached');
      throw new APIError(0, 'The dashboard server cannot be reached');
    }
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.status === 401 && attempt < 5) {
      await needAuth();
      continue;
    }
    if (!res.ok) {
      if (res.status >= 500) status(false, data && data.error);
      throw new APIError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
    }
    status(true);
    return data;
  }
}

// stream opens a server-sent event stream; handlers maps event names to
// functions of the parsed data. It reconnects on its own until close() is
// called, except after an "end" event (handlers.end is called). The
// returned object has close().
export function stream(path, handlers) {
  let es = null;
  let closed = false;
  let retry = null;
  const open = () => {
    if (closed) return;
    let url = path;
    const t = token();
    if (t) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(t);
    es = new EventSource(url);
    for (const [name, fn] of Object.entries(handlers)) {
      if (name === 'error' || name === 'opened') continue;
      es.addEventListener(name, (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch { data = null; }
        if (name === 'end') {
          closed = true;
          es.close();
        }
        status(true);
        fn(data, ev);
      });
    }
    es.onopen = () => { if (handlers.opened) handlers.opened(); };
    es.onerror = async () => {
      if (closed) return;
      if (es.readyState !== EventSource.CLOSED) {
        if (handlers.error) handlers.error('reconnecting');
        return; // the browser retries by itself
      }
      // Refused (401, 400, …) or unreachable: ask the same URL with
      // fetch, which can read the status, then stop or try again.
      es.close();
      const ctl = new AbortController();
      let delay = 2000;
      try {
        const headers = {};
        if (token()) headers.Authorization = 'Bearer ' + token();
        const res = await fetch(path, { headers, signal: ctl.signal });
        if (res.ok) {
          ctl.abort(); // it works again: reopen the stream
        } else if (res.status === 401) {
          await needAuth();
          delay = 0;
        } else if (res.status >= 400 && res.status < 500) {
          let msg = `${res.status} ${res.statusText}`;
          try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
          closed = true;
          if (handlers.error) handlers.error(msg, true);
          return;
        }
      } catch (e) {
        ctl.abort();
        status(false, 'The dashboard server cannot be reached');
        if (handlers.error) handlers.error('The dashboard server cannot be reached');
      }
      if (!closed) retry = setTimeout(open, delay);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (es) es.close();
    },
  };
}
