// Pricing: USD per million tokens for provider:model; list, set (create or replace), delete.

import * as api from './api.js';
import { h, field, input, table, busy, confirmDialog, usd, when, numberOrNull, formPage, firstLoad } from './dom.js';

export async function render(view) {
    const { msgs, form, listBox } = formPage(view, 'Pricing', 'Set a price', 'Prices');

    const keyIn = input('model_key', { required: true, autocomplete: 'off', placeholder: 'openai:gpt-4o-mini' });
    const inIn = input('input_price_per_million', { type: 'number', min: '0', step: 'any', required: true, inputmode: 'decimal' });
    const outIn = input('output_price_per_million', { type: 'number', min: '0', step: 'any', required: true, inputmode: 'decimal' });
    const save = h('button.primary', { type: 'submit' }, 'Save price');
    form.append(field('Model (provider:model)', keyIn), field('Input, USD per million tokens', inIn),
        field('Output, USD per million tokens', outIn), h('div.actions', save));

    let prices = [];
    const reload = async () => {
        prices = await api.getAll('/v1/pricing');
        if (view.alive()) draw();
    };
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(save, msgs, async () => {
            const p = await api.post('/v1/pricing', {
                model_key: keyIn.value.trim(),
                input_price_per_million: numberOrNull(inIn.value),
                output_price_per_million: numberOrNull(outIn.value),
            });
            form.reset();
            await reload();
            msgs.ok(`Price of ${p.model_key} saved.`);
        });
    });
    const editPrice = (p) => {
        keyIn.value = p.model_key;
        inIn.value = p.input_price_per_million;
        outIn.value = p.output_price_per_million;
        inIn.focus();
    };
    const remove = (p) => confirmDialog(`Delete the price of ${p.model_key}?`,
        'Requests to this model are then served without a cost (and not billed).', 'Delete price', async () => {
            await api.del('/v1/pricing/' + encodeURIComponent(p.model_key));
            await reload();
            msgs.ok(`Price of ${p.model_key} deleted.`);
        });

    function draw() {
        listBox.replaceChildren(table([
            { label: 'Model', cell: (p) => h('span.mono', p.model_key) },
            { label: 'Input / M tokens', num: true, cell: (p) => usd(p.input_price_per_million) },
            { label: 'Output / M tokens', num: true, cell: (p) => usd(p.output_price_per_million) },
            { label: 'Updated', cell: (p) => when(p.updated_at) },
            {
                label: 'Actions',
                cell: (p) => h('div.row-actions',
                    h('button', { type: 'button', 'aria-label': `Edit the price of ${p.model_key}`, onclick: () => editPrice(p) }, 'Edit'),
                    h('button.danger', { type: 'button', 'aria-label': `Delete the price of ${p.model_key}`, onclick: () => remove(p) }, 'Delete')),
            },
        ], prices, { empty: 'No prices: requests are served without a cost.', caption: 'Prices' }));
    }
    await firstLoad(view, msgs, listBox, 'the prices', reload());
}
