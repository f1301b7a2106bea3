// The dashboard's entry: sign-in, the navigation and the hash router (#/overview, #/users ...).
// Each page module exports render(view, params); view.root is the page's element and
// view.alive() turns false once the operator has moved on (late replies are then dropped).

import * as api from './api.js';
import { h, field, input, messages } from './dom.js';
import * as overview from './overview.js';
import * as users from './users.js';
import * as keys from './keys.js';
import * as budgets from './budgets.js';
import * as pricing from './pricing.js';
import * as usage from './usage.js';

const PAGES = {
    overview: { title: 'Overview', mod: overview },
    users: { title: 'Users', mod: users },
    keys: { title: 'Keys', mod: keys },
    budgets: { title: 'Budgets', mod: budgets },
    pricing: { title: 'Pricing', mod: pricing },
    usage: { title: 'Usage log', mod: usage },
};

const main = document.getElementById('main');
const top = document.getElementById('top');
let generation = 0;
let signInNote = '';

function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [name, qs] = raw.split('?');
    return { name: name || 'overview', params: new URLSearchParams(qs || '') };
}

function showSignIn() {
    generation += 1;
    top.hidden = true;
    document.title = 'Sign in · any-llm-gateway';
    const msgs = messages();
    if (signInNote) msgs.error(signInNote);
    const keyIn = input('master_key', { type: 'password', required: true, autocomplete: 'current-password', spellcheck: 'false' });
    const submit = h('button.primary', { type: 'submit' }, 'Sign in');
    const form = h('form.signin', { 'aria-labelledby': 'signin-title' },
        h('h1', { id: 'signin-title' }, 'any-llm-gateway'),
        h('p', 'Sign in with the gateway\'s master key. It is kept in this tab only (sessionStorage) and sent as a header, never stored in a cookie.'),
        field('Master key', keyIn), msgs, h('div.actions', submit));
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        api.signIn(keyIn.value);
        try {
            await api.get('/v1/budgets', { limit: 1 });
            signInNote = '';
            route();
        } catch (e) {
            if (e.status !== 401 && e.status !== 403) {
                api.signOut();
                msgs.error(e.message);
            }
        } finally {
            submit.disabled = false;
        }
    });
    main.replaceChildren(form);
    keyIn.focus();
}

async function route() {
    if (!api.masterKey()) {
        showSignIn();
        return;
    }
    const { name, params } = parseHash();
    const page = PAGES[name];
    if (!page) {
        location.replace('#/overview');
        return;
    }
    generation += 1;
    const mine = generation;
    top.hidden = false;
    document.title = page.title + ' · any-llm-gateway';
    for (const a of top.querySelectorAll('nav a')) {
        if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    const root = h('div.page', { 'data-page': name });
    main.replaceChildren(root);
    const view = { root, alive: () => mine === generation && api.masterKey() !== null };
    try {
        const rendering = page.mod.render(view, params);
        // The page's heading takes the focus (its synchronous part is drawn): screen readers
        // announce the new page, and Tab goes on from there (Shift+Tab back to the navigation).
        const h1 = root.querySelector('h1');
        if (h1) {
            h1.tabIndex = -1;
            h1.focus({ preventScroll: true });
        }
        await rendering;
    } catch (e) {
        if (view.alive()) root.append(h('p.msg.error', { role: 'alert' }, 'This page failed: ' + e.message));
    }
    if (view.alive()) root.dataset.ready = 'true';
}

api.onAuthLost((msg) => {
    signInNote = msg;
    showSignIn();
});

document.getElementById('signout').addEventListener('click', () => {
    api.signOut();
    signInNote = '';
    showSignIn();
});

window.addEventListener('hashchange', route);
route();
