// Drives the gateway's POST /v1/chat/completions with the official OpenAI Node SDK (pinned in
// tests/sdk/package.json, installed into tests/npm by scripts/sdk-deps.sh) for
// tests/check_e2e_sdk.c.
//
//   GW_BASE_URL=http://127.0.0.1:PORT/v1 GW_KEY=gw-... [GW_MODEL=provider:model] \
//     node tests/sdk/openai_chat.mjs <case>
//
// Each case prints ONE JSON line with what the SDK observed and exits 0; an unexpected
// exception (or a missing expected one) exits 1 with a message on stderr.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The SDK is resolved from tests/npm (next to this folder), whatever the working directory.
const npmDir = fileURLToPath(new URL('../npm/', import.meta.url));
if (!existsSync(`${npmDir}node_modules/openai/package.json`)) {
  process.stderr.write(`openai SDK not installed in ${npmDir}: run scripts/sdk-deps.sh\n`);
  process.exit(1);
}
const require = createRequire(`${npmDir}package.json`);
const sdk = require('openai');
const OpenAI = sdk.OpenAI ?? sdk.default ?? sdk;

const baseURL = process.env.GW_BASE_URL;
const key = process.env.GW_KEY;
// GW_PREFIX='' lets the script talk to the fake provider directly (models without "openai:").
const prefix = process.env.GW_PREFIX ?? 'openai:';
// GW_MODEL (the whole name, prefix included) replaces the model of every case, e.g.
// GW_MODEL=gemini:gem-ok for chat/stream, cohere:co-status-400 for error.
const modelFor = (name) => process.env.GW_MODEL || `${prefix}${name}`;
const model = modelFor('fake-ok');

function client(apiKey = key) {
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: 10_000 });
}

const messages = [{ role: 'user', content: 'hi' }];

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// Header lookup that works for both a fetch Headers object (SDK v5+) and a plain record (v4).
function header(err, name) {
  const h = err?.headers;
  if (h == null) return null;
  if (typeof h.get === 'function') return h.get(name);
  return h[name] ?? null;
}

// Runs fn, which must throw an SDK error; returns that error.
async function expectError(fn) {
  let res;
  try {
    res = await fn();
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    return err;
  }
  throw new Error(`expected an API error, got a reply: ${JSON.stringify(res)}`);
}

// Embeddings of two inputs; the SDK asks for base64 (and decodes it) unless format is given.
async function embed(format) {
  const extra = format ? { encoding_format: format } : {};
  const r = await client().embeddings.create({
    model: modelFor('text-embedding-3-small'),
    input: ['hello', 'world'],
    ...extra,
  });
  return {
    object: r.object,
    count: r.data.length,
    lengths: r.data.map((d) => (Array.isArray(d.embedding) ? d.embedding.length : -1)),
    first: r.data.map((d) => d.embedding[0]),
    vector0: r.data[0]?.embedding ?? null,
    indexes: r.data.map((d) => d.index),
    usage: r.usage,
    model: r.model,
  };
}

async function stream(extra) {
  const s = await client().chat.completions.create({ model, messages, stream: true, ...extra });
  let text = '';
  let chunks = 0;
  let usage = null;
  for await (const chunk of s) {
    chunks++;
    text += chunk.choices?.[0]?.delta?.content ?? '';
    if (chunk.usage != null) usage = chunk.usage;
  }
  return { text, chunks, usage };
}

const cases = {
  async chat() {
    const r = await client().chat.completions.create({ model, messages, seed: 7 });
    return { content: r.choices[0].message.content, usage: r.usage, id: r.id, model: r.model };
  },
  stream: () => stream({}),
  stream_usage: () => stream({ stream_options: { include_usage: true } }),
  embed_base64: () => embed(null),
  embed_float: () => embed('float'),
  async error() {
    const err = await expectError(() =>
      client().chat.completions.create({ model: modelFor('fake-status-400'), messages }),
    );
    return {
      name: err.constructor.name,
      status: err.status,
      message: err.message,
      instanceofBadRequest: err instanceof OpenAI.BadRequestError,
      error: err.error ?? null,
    };
  },
  async ratelimit() {
    const err = await expectError(() =>
      client().chat.completions.create({ model: modelFor('fake-status-429'), messages }),
    );
    return {
      name: err.constructor.name,
      status: err.status,
      instanceofRateLimit: err instanceof OpenAI.RateLimitError,
      retryAfter: header(err, 'retry-after'),
      message: err.message,
    };
  },
  async authfail() {
    const err = await expectError(() =>
      client('gw-invalid').chat.completions.create({ model, messages }),
    );
    return {
      name: err.constructor.name,
      status: err.status,
      instanceofAuth: err instanceof OpenAI.AuthenticationError,
      message: err.message,
    };
  },
};

const name = process.argv[2];
if (!Object.hasOwn(cases, name)) {
  process.stderr.write(`usage: openai_chat.mjs <${Object.keys(cases).join('|')}>\n`);
  process.exit(2);
}
if (!baseURL || !key) {
  process.stderr.write('GW_BASE_URL and GW_KEY must be set\n');
  process.exit(2);
}
try {
  out(await cases[name]());
} catch (err) {
  process.stderr.write(`${name}: unexpected ${err?.constructor?.name}: ${err?.stack ?? err}\n`);
  process.exit(1);
}
