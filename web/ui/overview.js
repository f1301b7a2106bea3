// Overview: totals, spend and requests over time, breakdowns by provider, model and user, the
// users closest to their budgets, and the latest errors, for the last 24 h, 7 days or 30 days.

import * as api from './api.js';
import { timeChart, utcLabel } from './chart.js';
import { h, table, messages, bar, usd, num, when, firstLoad } from './dom.js';

const RANGES = {
    '24h': { label: 'Last 24 h', step: 3600, count: 24, group: 'hour' },
    '7d': { label: 'Last 7 days', step: 86400, count: 7, group: 'day' },
    '30d': { label: 'Last 30 days', step: 86400, count: 30, group: 'day' },
};

// The window's buckets: epoch seconds of each bucket's start, oldest first (UTC hours or days).
function buckets(range, nowMs) {
    const step = range.step;
    const last = Math.floor(nowMs / 1000 / step) * step;
    const xs = [];
    for (let i = range.count - 1; i >= 0; i--) xs.push(last - i * step);
    return xs;
}

function card(label, value, sub) {
    return h('div.card', h('div.card-label', label), h('div.card-value', value), sub ? h('div.card-sub', sub) : null);
}

// A breakdown table: key, requests, errors, tokens, cost and its share of the total cost.
function breakdown(title, groups, keyLabel, total, keyCell) {
    return h('section.panel',
        h('h2', title),
        table([
            { label: keyLabel, cell: (g) => (g.key === null ? h('em', 'none') : keyCell ? keyCell(g.key) : g.key) },
            { label: 'Requests', num: true, cell: (g) => num(g.requests) },
            { label: 'Errors', num: true, cell: (g) => num(g.errors) },
            { label: 'Tokens', num: true, cell: (g) => num(g.total_tokens) },
            { label: 'Cost', num: true, cell: (g) => usd(g.cost) },
            { label: 'Share', cell: (g) => bar(g.cost || 0, total, `${total > 0 ? Math.round(((g.cost || 0) / total) * 100) : 0} % of the cost`) },
        ], groups.slice(0, 10), { empty: 'No requests in this range.', caption: title }));
}

export async function render(view, params) {
    const rangeId = RANGES[params.get('range')] ? params.get('range') : '7d';
    const range = RANGES[rangeId];
    const msgs = messages();
    const picker = h('div.segmented', { role: 'group', 'aria-label': 'Date range' },
        Object.entries(RANGES).map(([id, r]) =>
            h('a.seg', { href: '#/overview?range=' + id, 'aria-current': id === rangeId ? 'true' : null }, r.label)));
    const body = h('div.overview', h('p.loading', 'Loading…'));
    view.root.append(h('div.page-head', h('h1', 'Overview'), picker), msgs, body);

    const nowMs = Date.now();
    const xs = buckets(range, nowMs);
    const filt = { start_date: xs[0] };
    const data = await firstLoad(view, msgs, body, 'the overview', Promise.all([
        api.get('/v1/usage/summary', { ...filt, group_by: range.group }),
        api.get('/v1/usage/summary', { ...filt, group_by: 'provider' }),
        api.get('/v1/usage/summary', { ...filt, group_by: 'model' }),
        api.get('/v1/usage/summary', { ...filt, group_by: 'user' }),
        api.getAll('/v1/users'),
        api.getAll('/v1/budgets'),
        api.get('/v1/usage', { ...filt, status: 'error', limit: 5 }),
    ]));
    if (!data) return;
    const [time, byProvider, byModel, byUser, users, budgets, errors] = data;

    const t = time.totals;
    const byTime = new Map(time.groups.map((g) => [Math.floor(Date.parse(g.key) / 1000), g]));
    const at = (x, k) => (byTime.get(x) ? byTime.get(x)[k] || 0 : 0);
    const unit = range.step === 3600 ? 'hour' : 'day';
    const spend = xs.map((x) => at(x, 'cost'));
    const reqs = xs.map((x) => at(x, 'requests'));
    const errs = xs.map((x) => at(x, 'errors'));
    const errRate = t.requests ? ((t.errors / t.requests) * 100).toFixed(1) + ' % of requests' : null;

    const cards = h('div.cards',
        card('Spend', usd(t.cost), range.label.replace('Last', 'in the last')),
        card('Requests', num(t.requests)),
        card('Errors', num(t.errors), errRate),
        card('Tokens', num(t.total_tokens), `${num(t.prompt_tokens)} in · ${num(t.completion_tokens)} out`));

    const charts = h('div.charts',
        h('section.panel', timeChart(`Spend per ${unit} (USD, UTC)`, xs,
            [{ label: 'Spend', values: spend, kind: 'bars', fmt: (v) => usd(v) }], { step: range.step })),
        h('section.panel', timeChart(`Requests and errors per ${unit} (UTC)`, xs,
            [{ label: 'Requests', values: reqs, kind: 'line' }, { label: 'Errors', values: errs, kind: 'line' }],
            { step: range.step })));

    const dataTable = h('details.chart-data',
        h('summary', 'Chart data'),
        table([
            { label: unit === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', cell: (i) => utcLabel(xs[i], range.step) },
            { label: 'Requests', num: true, cell: (i) => num(reqs[i]) },
            { label: 'Errors', num: true, cell: (i) => num(errs[i]) },
            { label: 'Spend', num: true, cell: (i) => usd(spend[i]) },
        ], xs.map((x, i) => i).filter((i) => reqs[i] > 0), { empty: 'No requests in this range.', caption: 'Chart data' }));

    const budgetOf = new Map(budgets.map((b) => [b.budget_id, b]));
    const userLink = (id) => h('a', { href: '#/usage?user_id=' + encodeURIComponent(id) }, id);
    const limited = users
        .map((u) => ({ u, b: budgetOf.get(u.budget_id) }))
        .filter(({ b }) => b && b.max_budget !== null && b.max_budget !== undefined)
        .map((x) => ({ ...x, frac: x.b.max_budget > 0 ? x.u.spend / x.b.max_budget : 1 }))
        .sort((a, b) => b.frac - a.frac || b.u.spend - a.u.spend)
        .slice(0, 10);
    const budgetPanel = h('section.panel',
        h('h2', 'Top users against their budgets'),
        table([
            { label: 'User', cell: (r) => userLink(r.u.user_id) },
            { label: 'Spend', num: true, cell: (r) => usd(r.u.spend) },
            { label: 'Budget', num: true, cell: (r) => usd(r.b.max_budget) },
            { label: 'Used', cell: (r) => h('span.used', bar(r.u.spend, r.b.max_budget, `${Math.round(r.frac * 100)} % of the budget`, true), ` ${Math.round(r.frac * 100)} %`) },
            { label: 'Next reset', cell: (r) => (r.u.next_budget_reset_at ? when(r.u.next_budget_reset_at).slice(0, 10) : '—') },
            { label: 'State', cell: (r) => (r.u.blocked ? h('span.tag.bad', 'blocked') : r.frac >= 1 ? h('span.tag.bad', 'over budget') : h('span.tag.good', 'active')) },
        ], limited, { empty: 'No user has a limited budget.', caption: 'Top users against their budgets' }));

    const errPanel = h('section.panel',
        h('h2', 'Latest errors'),
        table([
            { label: 'Time', cell: (r) => when(r.timestamp) },
            { label: 'User', cell: (r) => r.user_id || '—' },
            { label: 'Model', cell: (r) => `${r.provider || '?'}:${r.model}` },
            { label: 'Status', cell: (r) => h('span.tag.bad', r.status) },
            { label: 'Message', cell: (r) => h('span.errmsg', r.error_message || '—') },
        ], errors, { empty: 'No errors in this range.', caption: 'Latest errors' }),
        h('p', h('a', { href: '#/usage?status=error' }, 'All errors in the usage log')));

    body.replaceChildren(cards, charts, dataTable,
        h('div.grid',
            breakdown('By provider', byProvider.groups, 'Provider', t.cost),
            breakdown('By model', byModel.groups, 'Model', t.cost),
            breakdown('By user', byUser.groups, 'User', t.cost, userLink),
            budgetPanel),
        errPanel);
}
