// Keys: the list (paged), create (the key is shown once, with a copy button), revoke and
// reactivate (PATCH is_active), delete, expiry and the per-key rpm_limit / tpm_limit.

import * as api from './api.js';
import { h, field, input, table, busy, formDialog, confirmDialog, pager, when, num, numberOrNull, formPage, firstLoad } from './dom.js';

const LIMIT = 50;

// A datetime-local value (read as UTC) to the API's ISO form, '' to null.
function expiryValue(v) {
    return v ? new Date(v + 'Z').toISOString() : null;
}

function expiryInput(current) {
    return input('expires_at', { type: 'datetime-local', value: current ? current.slice(0, 16) : '' });
}

function limitInputs(k = {}) {
    return [
        input('rpm_limit', { type: 'number', min: '1', step: '1', inputmode: 'numeric', value: k.rpm_limit ?? '' }),
        input('tpm_limit', { type: 'number', min: '1', step: '1', inputmode: 'numeric', value: k.tpm_limit ?? '' }),
    ];
}

function expired(k) {
    return k.expires_at && Date.parse(k.expires_at) <= Date.now();
}

// The once-only display of a new key: a read-only field and a copy button.
function shownOnce(created) {
    const out = input('new_key', { readOnly: true, value: created.key, class: 'secret', spellcheck: 'false' });
    const status = h('span.copy-status', { role: 'status' });
    const copy = h('button.primary', {
        type: 'button',
        onclick: async () => {
            out.select();
            try {
                await navigator.clipboard.writeText(created.key);
                status.textContent = 'Copied.';
            } catch {
                status.textContent = document.execCommand('copy') ? 'Copied.' : 'Press Ctrl+C to copy the selected key.';
            }
        },
    }, 'Copy');
    return h('section.panel.once', { 'aria-labelledby': 'once-title' },
        h('h2', { id: 'once-title' }, `Key "${created.key_name || created.id}" created`),
        h('p', h('strong', 'Copy it now: it is shown only once.'), ' The gateway keeps only its hash.'),
        h('div.copy-row', field('The new key', out), copy, status));
}

export async function render(view, params) {
    const skip = Math.max(0, parseInt(params.get('skip') || '0', 10) || 0);
    const onceBox = h('div');
    const { msgs, form, listBox } = formPage(view, 'API keys', 'New key', 'All keys', onceBox);

    const data = await firstLoad(view, msgs, listBox, 'the keys',
        Promise.all([api.get('/v1/keys', { skip, limit: LIMIT }), api.getAll('/v1/users')]));
    if (!data) return;
    let keys = data[0];
    const users = data[1];

    const usersList = h('datalist', { id: 'users-list' }, users.map((u) => h('option', { value: u.user_id })));
    const nameIn = input('key_name', { autocomplete: 'off' });
    const userIn = input('user_id', { list: 'users-list', autocomplete: 'off' });
    const expIn = expiryInput(null);
    const [rpmIn, tpmIn] = limitInputs();
    const create = h('button.primary', { type: 'submit' }, 'Create key');
    form.append(usersList, field('Name', nameIn), field('User id', userIn, 'An unknown user is created; empty: a user of its own.'),
        field('Expires (UTC, optional)', expIn), field('Requests per minute', rpmIn, 'Empty: no limit.'),
        field('Tokens per minute', tpmIn, 'Empty: no limit.'), h('div.actions', create));
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(create, msgs, async () => {
            const body = { rpm_limit: numberOrNull(rpmIn.value), tpm_limit: numberOrNull(tpmIn.value) };
            if (nameIn.value.trim()) body.key_name = nameIn.value.trim();
            if (userIn.value.trim()) body.user_id = userIn.value.trim();
            if (expIn.value) body.expires_at = expiryValue(expIn.value);
            const created = await api.post('/v1/keys', body);
            form.reset();
            onceBox.replaceChildren(shownOnce(created));
            await reload();
            onceBox.querySelector('input').focus();
        });
    });

    const reload = async () => {
        keys = await api.get('/v1/keys', { skip, limit: LIMIT });
        if (view.alive()) draw();
    };
    const path = (k) => '/v1/keys/' + encodeURIComponent(k.id);
    const label = (k) => k.key_name || k.id.slice(0, 8);
    const setActive = (button, k, active) => busy(button, msgs, async () => {
        await api.patch(path(k), { is_active: active });
        await reload();
        msgs.ok(`Key ${label(k)} ${active ? 'reactivated' : 'revoked'}.`);
    });
    const edit = (k) => {
        const exp = expiryInput(k.expires_at);
        const [rpm, tpm] = limitInputs(k);
        formDialog(`Limits of key ${label(k)}`, [field('Expires (UTC)', exp, 'Empty: never.'),
            field('Requests per minute', rpm, 'Empty: no limit.'), field('Tokens per minute', tpm, 'Empty: no limit.')], 'Save', async () => {
            await api.patch(path(k), { expires_at: expiryValue(exp.value), rpm_limit: numberOrNull(rpm.value), tpm_limit: numberOrNull(tpm.value) });
            await reload();
            msgs.ok(`Key ${label(k)} saved.`);
        });
    };
    const remove = (k) => confirmDialog(`Delete key ${label(k)}?`,
        'Deleting is permanent (its usage rows stay, without the key). Revoking can be undone.', 'Delete key', async () => {
            await api.del(path(k));
            await reload();
            msgs.ok(`Key ${label(k)} deleted.`);
        });

    const state = (k) => (!k.is_active ? h('span.tag.bad', 'revoked') : expired(k) ? h('span.tag.bad', 'expired') : h('span.tag.good', 'active'));

    function draw() {
        listBox.replaceChildren(table([
            { label: 'Name', cell: (k) => h('span', h('strong', k.key_name || '—'), h('small.muted.mono', ' ' + k.id.slice(0, 8))) },
            { label: 'User', cell: (k) => k.user_id || '—' },
            { label: 'State', cell: state },
            { label: 'Created', cell: (k) => when(k.created_at) },
            { label: 'Last used', cell: (k) => when(k.last_used_at) },
            { label: 'Expires', cell: (k) => (k.expires_at ? when(k.expires_at) : 'never') },
            { label: 'RPM', num: true, cell: (k) => (k.rpm_limit ? num(k.rpm_limit) : '—') },
            { label: 'TPM', num: true, cell: (k) => (k.tpm_limit ? num(k.tpm_limit) : '—') },
            {
                label: 'Actions',
                cell: (k) => h('div.row-actions',
                    k.is_active
                        ? h('button', { type: 'button', 'aria-label': `Revoke ${label(k)}`, onclick: (ev) => setActive(ev.currentTarget, k, false) }, 'Revoke')
                        : h('button', { type: 'button', 'aria-label': `Reactivate ${label(k)}`, onclick: (ev) => setActive(ev.currentTarget, k, true) }, 'Reactivate'),
                    h('button', { type: 'button', 'aria-label': `Limits of ${label(k)}`, onclick: () => edit(k) }, 'Limits…'),
                    h('a.button', { href: '#/usage?api_key_id=' + encodeURIComponent(k.id), 'aria-label': `Usage of ${label(k)}` }, 'Usage'),
                    h('button.danger', { type: 'button', 'aria-label': `Delete ${label(k)}`, onclick: () => remove(k) }, 'Delete')),
            },
        ], keys, { empty: 'No keys.', caption: 'API keys' }), pager({
            skip, limit: LIMIT, shown: keys.length,
            onPage: (s) => { location.hash = '#/keys?skip=' + s; },
        }));
    }
    draw();
}
