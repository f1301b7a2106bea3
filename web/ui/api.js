// The admin API client: the master key lives in sessionStorage only (never localStorage, a
// cookie or a URL) and goes out as the Authorization header of same-origin fetch() calls.

const STORE = 'gw.masterKey';

export function masterKey() {
    return sessionStorage.getItem(STORE);
}

export function signIn(key) {
    sessionStorage.setItem(STORE, key);
}

export function signOut() {
    sessionStorage.removeItem(STORE);
}

// Called with a message when the API refuses the key (401/403): the app returns to sign-in.
let authLost = () => {};
export function onAuthLost(fn) {
    authLost = fn;
}

export class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

// The API's error body as one line: {"detail": "..."} or the 422 list of {loc, msg}.
export function errorText(body, status) {
    const d = body && body.detail;
    if (typeof d === 'string') return d;
    if (Array.isArray(d)) {
        return d.map((e) => {
            const loc = Array.isArray(e.loc) ? e.loc.filter((p) => p !== 'body' && p !== 'query').join('.') : '';
            return (loc ? loc + ': ' : '') + (e.msg || e.type || 'invalid');
        }).join('; ');
    }
    if (body && body.error && body.error.message) return body.error.message;
    return 'HTTP ' + status;
}

// Query string from an object, leaving out empty values.
export function queryString(q) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q || {})) {
        if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
    }
    const s = p.toString();
    return s ? '?' + s : '';
}

// One call: resolves to {data, headers} (data null for 204), throws ApiError otherwise.
export async function request(method, path, { query, body } = {}) {
    const key = masterKey();
    if (!key) {
        authLost('Sign in to continue.');
        throw new ApiError(401, 'Not signed in');
    }
    const headers = { Authorization: 'Bearer ' + key, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    let res;
    try {
        res = await fetch(path + queryString(query), init);
    } catch (e) {
        throw new ApiError(0, 'The gateway did not answer (' + e.message + ')');
    }
    let data = null;
    const text = res.status === 204 ? '' : await res.text();
    if (text) {
        try {
            data = JSON.parse(text);
        } catch {
            data = null;
        }
    }
    if (res.status === 401 || res.status === 403) {
        const msg = errorText(data, res.status);
        signOut();
        authLost('The gateway refused the master key: ' + msg);
        throw new ApiError(res.status, msg);
    }
    if (!res.ok) throw new ApiError(res.status, errorText(data, res.status));
    return { data, headers: res.headers };
}

export async function get(path, query) {
    return (await request('GET', path, { query })).data;
}

export const post = async (path, body) => (await request('POST', path, { body })).data;
export const patch = async (path, body) => (await request('PATCH', path, { body })).data;
export const del = async (path) => (await request('DELETE', path)).data;

// Every row of a skip/limit listing (pages of `limit` until a short one), at most `max` rows.
export async function getAll(path, query = {}, max = 10000) {
    const rows = [];
    const limit = 1000;
    for (let skip = 0; skip < max; skip += limit) {
        const page = await get(path, { ...query, skip, limit });
        rows.push(...page);
        if (page.length < limit) break;
    }
    return rows;
}
