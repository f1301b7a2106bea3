// DOM helpers shared by the pages: element building (no innerHTML, so API strings are never
// parsed as markup), tables, forms, messages, dialogs and formatting.

// h('tag.class', {attr: value, onclick: fn}, child...): children are nodes, strings or arrays.
export function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
        children.unshift(attrs);
        attrs = null;
    }
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else if (k in el && typeof v !== 'string') el[k] = v;
        else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false) continue;
        if (Array.isArray(c)) append(el, c);
        else el.append(c instanceof Node ? c : String(c));
    }
}

let nextId = 0;
export function uid(prefix) {
    nextId += 1;
    return prefix + '-' + nextId;
}

// A labelled form field: the control gets an id, the label points at it.
export function field(label, control, hint) {
    control.id = control.id || uid('f');
    const hintEl = hint ? h('small.hint', { id: control.id + '-hint' }, hint) : null;
    if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
    return h('div.field', h('label', { for: control.id }, label), control, hintEl);
}

export function input(name, attrs = {}) {
    return h('input', { name, type: 'text', ...attrs });
}

export function select(name, options, value) {
    return h('select', { name }, options.map(([v, label]) =>
        h('option', { value: v, selected: v === value }, label)));
}

// A table in a horizontally scrolling wrapper. columns: [{label, cell(row) -> node|string,
// num: bool}]. empty: the text of an empty table.
export function table(columns, rows, { empty = 'Nothing yet.', caption } = {}) {
    const head = h('tr', columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)));
    const body = rows.length
        ? rows.map((r) => h('tr', columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r)))))
        : h('tr', h('td.empty', { colSpan: columns.length }, empty));
    return h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': caption || 'Table' },
        h('table', caption ? h('caption', caption) : null, h('thead', head), h('tbody', body)));
}

// The message area of a page: error(), ok() and clear() replace its content.
export function messages() {
    const el = h('div.messages', { role: 'status', 'aria-live': 'polite' });
    el.error = (msg) => el.replaceChildren(h('p.msg.error', { role: 'alert' }, msg));
    el.ok = (msg) => el.replaceChildren(h('p.msg.ok', msg));
    el.clear = () => el.replaceChildren();
    return el;
}

// The frame of a page with a form over a list: the heading, the message area, then `top` (a
// node or null), a panel with the form (formTitle, also its accessible name) and a panel with
// the list. Returns {msgs, form, listBox}.
export function formPage(view, title, formTitle, listTitle, top = null) {
    const msgs = messages();
    const form = h('form.inline-form', { 'aria-label': formTitle });
    const listBox = h('div', h('p.loading', 'Loading…'));
    append(view.root, [h('div.page-head', h('h1', title)), msgs, top,
        h('section.panel', h('h2', formTitle), form), h('section.panel', h('h2', listTitle), listBox)]);
    return { msgs, form, listBox };
}

// Awaits a page's first data: on an error, says what could not be loaded (in msgs, `box`'s
// "Loading…" removed) and gives null, as it does when the operator has left the page meanwhile.
export async function firstLoad(view, msgs, box, what, promise) {
    try {
        const data = await promise;
        return view.alive() ? data : null;
    } catch (e) {
        if (view.alive()) {
            box.replaceChildren();
            msgs.error(`Could not load ${what}: ${e.message}`);
        }
        return null;
    }
}

// Runs fn (async) with the button disabled; an error goes to msgs.
export async function busy(button, msgs, fn) {
    if (button) button.disabled = true;
    try {
        msgs.clear();
        return await fn();
    } catch (e) {
        msgs.error(e.message);
        return undefined;
    } finally {
        if (button) button.disabled = false;
    }
}

// A modal form dialog: fields (nodes), a submit label; onSubmit(form) resolves to close it or
// throws to show the error inside the dialog.
export function formDialog(title, fields, submitLabel, onSubmit) {
    const msgs = messages();
    const submit = h('button.primary', { type: 'submit' }, submitLabel);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    const form = h('form', { method: 'dialog' }, h('h2', title), fields, msgs, h('div.actions', submit, cancel));
    const dlg = h('dialog', { 'aria-label': title }, form);
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => dlg.remove());
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const done = await busy(submit, msgs, async () => {
            await onSubmit(form);
            return true;
        });
        if (done) dlg.close();
    });
    document.body.append(dlg);
    dlg.showModal();
    return dlg;
}

// An accessible yes/no confirmation (a dialog, not window.confirm).
export function confirmDialog(title, text, yesLabel, onYes) {
    return formDialog(title, h('p', text), yesLabel, onYes);
}

// Previous/next buttons and a position text. onPage(skip) loads a page.
export function pager({ skip, limit, shown, total, onPage }) {
    const from = shown ? skip + 1 : 0;
    const to = skip + shown;
    const text = total !== undefined ? `${from}–${to} of ${total}` : shown ? `${from}–${to}` : 'no rows';
    const hasNext = total !== undefined ? to < total : shown === limit;
    return h('nav.pager', { 'aria-label': 'Pages' },
        h('button', { type: 'button', disabled: skip === 0, onclick: () => onPage(Math.max(0, skip - limit)) }, '← Previous'),
        h('span.pos', text),
        h('button', { type: 'button', disabled: !hasNext, onclick: () => onPage(skip + limit) }, 'Next →'));
}

// A bar of value/max (a meter-like span; its width set through element.style, which the CSP
// allows, unlike style attributes). warn: red from 90 % (a budget's use).
export function bar(value, max, label, warn = false) {
    const pct = max > 0 ? Math.min(100, (value / max) * 100) : warn ? 100 : 0;
    const fill = h('span.fill');
    fill.style.width = pct.toFixed(1) + '%';
    if (warn && pct >= 90) fill.classList.add('high');
    return h('span.bar', { role: 'img', 'aria-label': label || `${pct.toFixed(0)} %` }, fill);
}

// --- formatting ---

// Dollars and cents from $1 up; below, three significant digits (a request costs fractions of
// a cent), at least two decimals: $12.50, $0.0342, $0.00006.
export function usd(x) {
    if (x === null || x === undefined) return '—';
    if (Math.abs(x) >= 1 || x === 0) {
        return '$' + x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    let s = x.toLocaleString('en-US', { maximumSignificantDigits: 3, maximumFractionDigits: 12 });
    const dot = s.indexOf('.');
    if (dot < 0) s += '.00';
    else if (s.length - dot - 1 < 2) s += '0';
    return (x < 0 ? '-$' + s.slice(1) : '$' + s);
}

export function num(x) {
    return x === null || x === undefined ? '—' : Number(x).toLocaleString('en-US');
}

// An API timestamp as "2026-12-07 13:05 UTC" (the API's times are UTC).
export function when(ts) {
    if (!ts) return '—';
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return ts;
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

export function duration(sec) {
    if (sec === null || sec === undefined) return 'never resets';
    const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
    for (const [n, name] of units) {
        if (sec % n === 0) {
            const v = sec / n;
            return `${v} ${name}${v === 1 ? '' : 's'}`;
        }
    }
    return sec + ' s';
}

// A number input's value: null when empty, else a Number (the API validates it).
export function numberOrNull(v) {
    const s = String(v).trim();
    return s === '' ? null : Number(s);
}
