// Budgets: shared templates of a maximum spend (USD, empty = unlimited) and a period (empty =
// never resets): list, create, edit, delete; how many users are on each.

import * as api from './api.js';
import { h, field, input, select, table, busy, formDialog, confirmDialog, usd, when, duration, numberOrNull, formPage, firstLoad } from './dom.js';

const UNITS = [['86400', 'days'], ['3600', 'hours'], ['60', 'minutes']];

// The period inputs: an amount and a unit; seconds() gives null when the amount is empty.
function periodInputs(sec) {
    let unit = '86400';
    if (sec) unit = UNITS.map(([u]) => u).find((u) => sec % Number(u) === 0) || '60';
    const amount = input('duration', { type: 'number', min: '0', step: 'any', value: sec ? sec / Number(unit) : '' });
    const unitSel = select('unit', UNITS, unit);
    const seconds = () => {
        const v = numberOrNull(amount.value);
        return v === null ? null : Math.round(v * Number(unitSel.value));
    };
    return { nodes: [field('Resets every', amount, 'Empty: never resets.'), field('Unit', unitSel)], seconds };
}

export async function render(view) {
    const { msgs, form, listBox } = formPage(view, 'Budgets', 'New budget', 'All budgets');

    let budgets = [];
    let users = [];
    const load = async () => {
        [budgets, users] = await Promise.all([api.getAll('/v1/budgets'), api.getAll('/v1/users')]);
    };
    if (!(await firstLoad(view, msgs, listBox, 'the budgets', load().then(() => true)))) return;

    const maxIn = input('max_budget', { type: 'number', min: '0', step: 'any', inputmode: 'decimal' });
    const period = periodInputs(30 * 86400);
    const create = h('button.primary', { type: 'submit' }, 'Create budget');
    form.append(field('Maximum spend (USD)', maxIn, 'Empty: unlimited.'), ...period.nodes, h('div.actions', create));
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(create, msgs, async () => {
            const b = await api.post('/v1/budgets', { max_budget: numberOrNull(maxIn.value), budget_duration_sec: period.seconds() });
            maxIn.value = '';
            await reload();
            msgs.ok(`Budget ${b.budget_id.slice(0, 8)} created.`);
        });
    });

    const reload = async () => {
        await load();
        if (view.alive()) draw();
    };
    const path = (b) => '/v1/budgets/' + encodeURIComponent(b.budget_id);
    const edit = (b) => {
        const max = input('max_budget', { type: 'number', min: '0', step: 'any', value: b.max_budget ?? '' });
        const p = periodInputs(b.budget_duration_sec);
        formDialog(`Budget ${b.budget_id.slice(0, 8)}`, [field('Maximum spend (USD)', max, 'Empty: unlimited.'), p.nodes], 'Save', async () => {
            await api.patch(path(b), { max_budget: numberOrNull(max.value), budget_duration_sec: p.seconds() });
            await reload();
            msgs.ok(`Budget ${b.budget_id.slice(0, 8)} saved.`);
        });
    };
    const remove = (b) => confirmDialog(`Delete budget ${b.budget_id.slice(0, 8)}?`,
        'Users on it keep their spend and become unlimited.', 'Delete budget', async () => {
            await api.del(path(b));
            await reload();
            msgs.ok(`Budget ${b.budget_id.slice(0, 8)} deleted.`);
        });

    function draw() {
        const count = (b) => users.filter((u) => u.budget_id === b.budget_id).length;
        listBox.replaceChildren(table([
            { label: 'Budget', cell: (b) => h('span.mono', b.budget_id) },
            { label: 'Maximum', num: true, cell: (b) => (b.max_budget === null ? 'unlimited' : usd(b.max_budget)) },
            { label: 'Period', cell: (b) => duration(b.budget_duration_sec) },
            { label: 'Users', num: true, cell: count },
            { label: 'Created', cell: (b) => when(b.created_at) },
            {
                label: 'Actions',
                cell: (b) => h('div.row-actions',
                    h('button', { type: 'button', 'aria-label': `Edit budget ${b.budget_id.slice(0, 8)}`, onclick: () => edit(b) }, 'Edit…'),
                    h('button.danger', { type: 'button', 'aria-label': `Delete budget ${b.budget_id.slice(0, 8)}`, onclick: () => remove(b) }, 'Delete')),
            },
        ], budgets, { empty: 'No budgets.', caption: 'Budgets' }));
    }
    draw();
}
