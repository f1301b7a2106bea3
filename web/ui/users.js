// Users: the list (paged), create, block/unblock, assign a budget, spend against the budget and
// the next reset, soft delete.

import * as api from './api.js';
import { h, field, input, select, table, busy, formDialog, confirmDialog, pager, bar, usd, when, formPage, firstLoad } from './dom.js';

const LIMIT = 50;

function budgetOptions(budgets) {
    return [['', 'No budget (unlimited)'],
        ...budgets.map((b) => [b.budget_id, `${b.max_budget === null ? 'unlimited' : usd(b.max_budget)} · ${b.budget_id.slice(0, 8)}`])];
}

export async function render(view, params) {
    const skip = Math.max(0, parseInt(params.get('skip') || '0', 10) || 0);
    const { msgs, form, listBox } = formPage(view, 'Users', 'New user', 'All users');

    const data = await firstLoad(view, msgs, listBox, 'the users',
        Promise.all([api.getAll('/v1/budgets'), api.get('/v1/users', { skip, limit: LIMIT })]));
    if (!data) return;
    const budgets = data[0];
    let users = data[1];
    const budgetOf = new Map(budgets.map((b) => [b.budget_id, b]));

    const idIn = input('user_id', { required: true, autocomplete: 'off', maxlength: '255' });
    const aliasIn = input('alias', { autocomplete: 'off' });
    const budgetIn = select('budget_id', budgetOptions(budgets), '');
    const create = h('button.primary', { type: 'submit' }, 'Create user');
    form.append(field('User id', idIn), field('Alias (optional)', aliasIn), field('Budget', budgetIn), h('div.actions', create));
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(create, msgs, async () => {
            const body = { user_id: idIn.value.trim() };
            if (aliasIn.value.trim()) body.alias = aliasIn.value.trim();
            if (budgetIn.value) body.budget_id = budgetIn.value;
            const u = await api.post('/v1/users', body);
            form.reset();
            await reload();
            msgs.ok(`User ${u.user_id} created.`);
        });
    });

    const reload = async () => {
        users = await api.get('/v1/users', { skip, limit: LIMIT });
        if (view.alive()) draw();
    };
    const act = (button, fn, done) => busy(button, msgs, async () => {
        await fn();
        await reload();
        msgs.ok(done);
    });

    const setBudget = (u) => {
        const sel = select('budget_id', budgetOptions(budgets), u.budget_id || '');
        formDialog(`Budget of ${u.user_id}`, field('Budget', sel, 'Assigning a budget starts a new period.'), 'Save', async () => {
            await api.patch('/v1/users/' + encodeURIComponent(u.user_id), { budget_id: sel.value || null });
            await reload();
            msgs.ok(`Budget of ${u.user_id} saved.`);
        });
    };
    const remove = (u) => confirmDialog(`Delete ${u.user_id}?`,
        'The user is soft-deleted: their keys are deactivated, their usage is kept.', 'Delete user', async () => {
            await api.del('/v1/users/' + encodeURIComponent(u.user_id));
            await reload();
            msgs.ok(`User ${u.user_id} deleted.`);
        });

    const spendCell = (u) => {
        const b = budgetOf.get(u.budget_id);
        if (!b || b.max_budget === null) return h('span', usd(u.spend), h('small.muted', ' no limit'));
        return h('span.used', `${usd(u.spend)} of ${usd(b.max_budget)} `, bar(u.spend, b.max_budget, `${Math.round((u.spend / (b.max_budget || 1)) * 100)} % of the budget`, true));
    };

    function draw() {
        const rows = table([
            { label: 'User', cell: (u) => h('span', h('strong', u.user_id), u.alias ? h('small.muted', ' ' + u.alias) : null) },
            { label: 'Spend vs budget', cell: spendCell },
            { label: 'Budget resets', cell: (u) => (budgetOf.get(u.budget_id) && budgetOf.get(u.budget_id).budget_duration_sec ? when(u.next_budget_reset_at) : '—') },
            { label: 'State', cell: (u) => (u.blocked ? h('span.tag.bad', 'blocked') : h('span.tag.good', 'active')) },
            {
                label: 'Actions',
                cell: (u) => h('div.row-actions',
                    h('button', {
                        type: 'button',
                        'aria-label': `${u.blocked ? 'Unblock' : 'Block'} ${u.user_id}`,
                        onclick: (ev) => act(ev.currentTarget, () => api.patch('/v1/users/' + encodeURIComponent(u.user_id), { blocked: !u.blocked }),
                            `User ${u.user_id} ${u.blocked ? 'unblocked' : 'blocked'}.`),
                    }, u.blocked ? 'Unblock' : 'Block'),
                    h('button', { type: 'button', 'aria-label': `Budget of ${u.user_id}`, onclick: () => setBudget(u) }, 'Budget…'),
                    h('a.button', { href: '#/usage?user_id=' + encodeURIComponent(u.user_id), 'aria-label': `Usage of ${u.user_id}` }, 'Usage'),
                    h('button.danger', { type: 'button', 'aria-label': `Delete ${u.user_id}`, onclick: () => remove(u) }, 'Delete')),
            },
        ], users, { empty: 'No users.', caption: 'Users' });
        listBox.replaceChildren(rows, pager({
            skip, limit: LIMIT, shown: users.length,
            onPage: (s) => { location.hash = '#/users?skip=' + s; },
        }));
    }
    draw();
}
