// Usage log: GET /v1/usage with filters (dates, user, key, model, provider, status), pages of
// LIMIT rows (X-Total-Count), and a CSV export of every filtered row, fetched page by page.

import * as api from './api.js';
import { h, field, input, select, table, messages, busy, pager, usd, num, when, firstLoad } from './dom.js';

const LIMIT = 50;
const FILTERS = ['start', 'end', 'user_id', 'api_key_id', 'model', 'provider', 'status'];
const COLUMNS = ['id', 'timestamp', 'user_id', 'api_key_id', 'provider', 'model', 'endpoint', 'status',
    'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost', 'error_message'];

// The API query of the page's filters: dates are whole UTC days, the end day included.
function apiQuery(f) {
    const q = {};
    for (const k of ['user_id', 'api_key_id', 'model', 'provider', 'status']) q[k] = f[k];
    if (f.start) q.start_date = f.start;
    if (f.end) {
        const d = new Date(f.end + 'T00:00:00Z');
        if (!Number.isNaN(d.getTime())) {
            d.setUTCDate(d.getUTCDate() + 1);
            q.end_date = d.toISOString().slice(0, 10);
        } else {
            q.end_date = f.end; // the API says what is wrong with it
        }
    }
    return q;
}

function csvCell(v) {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export function toCsv(rows) {
    const lines = [COLUMNS.join(',')];
    for (const r of rows) lines.push(COLUMNS.map((c) => csvCell(r[c])).join(','));
    return lines.join('\r\n') + '\r\n';
}

function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = h('a', { href: url, download: name, class: 'hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function render(view, params) {
    const f = {};
    for (const k of FILTERS) f[k] = params.get(k) || '';
    const skip = Math.max(0, parseInt(params.get('skip') || '0', 10) || 0);
    const msgs = messages();
    const listBox = h('div', h('p.loading', 'Loading…'));

    const ins = {
        start: input('start', { type: 'date', value: f.start }),
        end: input('end', { type: 'date', value: f.end }),
        user_id: input('user_id', { value: f.user_id, autocomplete: 'off' }),
        api_key_id: input('api_key_id', { value: f.api_key_id, autocomplete: 'off' }),
        model: input('model', { value: f.model, autocomplete: 'off' }),
        provider: input('provider', { value: f.provider, autocomplete: 'off' }),
        status: select('status', [['', 'any'], ['success', 'success'], ['error', 'error'], ['cancelled', 'cancelled']], f.status),
    };
    const apply = h('button.primary', { type: 'submit' }, 'Apply filters');
    const reset = h('a.button', { href: '#/usage' }, 'Clear');
    const exportBtn = h('button', { type: 'button' }, 'Export CSV');
    const form = h('form.inline-form.filters', { 'aria-label': 'Filters' },
        field('From (UTC day)', ins.start), field('To (UTC day, included)', ins.end), field('User id', ins.user_id),
        field('Key id', ins.api_key_id), field('Model', ins.model), field('Provider', ins.provider), field('Status', ins.status),
        h('div.actions', apply, reset, exportBtn));
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const p = new URLSearchParams();
        for (const k of FILTERS) if (ins[k].value.trim()) p.set(k, ins[k].value.trim());
        location.hash = '#/usage' + (p.toString() ? '?' + p : '');
    });
    const query = apiQuery(f);
    exportBtn.addEventListener('click', () => busy(exportBtn, msgs, async () => {
        const rows = [];
        for (let s = 0; ; s += 1000) {
            const { data, headers } = await api.request('GET', '/v1/usage', { query: { ...query, skip: s, limit: 1000 } });
            rows.push(...data);
            const total = Number(headers.get('X-Total-Count'));
            exportBtn.textContent = `Exporting ${rows.length}…`;
            if (data.length < 1000 || (total && rows.length >= total)) break;
        }
        exportBtn.textContent = 'Export CSV';
        download('usage.csv', toCsv(rows));
        msgs.ok(`Exported ${rows.length} rows to usage.csv.`);
    }).finally(() => { exportBtn.textContent = 'Export CSV'; }));

    view.root.append(h('div.page-head', h('h1', 'Usage log')), msgs,
        h('section.panel', h('h2', 'Filters'), form), h('section.panel', h('h2', 'Requests'), listBox));

    const res = await firstLoad(view, msgs, listBox, 'the usage log',
        api.request('GET', '/v1/usage', { query: { ...query, skip, limit: LIMIT } }));
    if (!res) return;
    const rows = res.data;
    const total = Number(res.headers.get('X-Total-Count') || rows.length);
    const pageLink = (s) => {
        const p = new URLSearchParams();
        for (const k of FILTERS) if (f[k]) p.set(k, f[k]);
        if (s) p.set('skip', s);
        location.hash = '#/usage' + (p.toString() ? '?' + p : '');
    };
    listBox.replaceChildren(
        h('p.summary', { id: 'usage-total' }, `${num(total)} matching request${total === 1 ? '' : 's'}`),
        table([
            { label: 'Time', cell: (r) => when(r.timestamp) },
            { label: 'User', cell: (r) => r.user_id || '—' },
            { label: 'Key', cell: (r) => (r.api_key_id ? h('span.mono', { title: r.api_key_id }, r.api_key_id.slice(0, 8)) : '—') },
            { label: 'Model', cell: (r) => `${r.provider || '?'}:${r.model}` },
            { label: 'Endpoint', cell: (r) => r.endpoint || '—' },
            { label: 'Tokens in', num: true, cell: (r) => num(r.prompt_tokens) },
            { label: 'Tokens out', num: true, cell: (r) => num(r.completion_tokens) },
            { label: 'Cost', num: true, cell: (r) => usd(r.cost) },
            { label: 'Status', cell: (r) => h('span.tag', { class: 'tag ' + (r.status === 'success' ? 'good' : 'bad') }, r.status) },
            { label: 'Error', cell: (r) => (r.error_message ? h('span.errmsg', r.error_message) : '') },
        ], rows, { empty: 'No request matches these filters.', caption: 'Usage log' }),
        pager({ skip, limit: LIMIT, shown: rows.length, total, onPage: pageLink }));
}
