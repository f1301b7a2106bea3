// Drives POST /v1/messages with the official Anthropic Node SDK (pinned in tests/sdk/package.json,
// installed into tests/npm by scripts/sdk-deps.sh) for the end-to-end tests.
//
//   GW_BASE_URL=http://127.0.0.1:PORT GW_KEY=gw-... [GW_AUTH=...] [GW_MODEL=...] \
//     node tests/sdk/anthropic_messages.mjs <case> [model]
//
// GW_BASE_URL is the server root: the SDK appends /v1/messages. The model is the second argument,
// else GW_MODEL, else "anthropic:claude-ok" (against the fake provider directly use its bare
// names: claude-ok, claude-tools, claude-status-429, ...). Cases:
//   create        messages.create: id, model, text, block types, thinking {text, signature} or
//                 null, stop_reason, usage
//   stream        messages.stream(...).finalMessage(): the same plus the event types in order (the
//                 SDK does not report ping) and the text deltas
//   tools         a tool_use reply (messages.create with a get_weather tool): stop_reason, block
//   stream_tools  the same streamed: the final message's tool_use input as the SDK assembled it
//                 from input_json_delta, and the partial_json pieces seen
//   error         a request that must fail: SDK error class name, status, error type, message,
//                 retry-after (e.g. RateLimitError 429, AuthenticationError 401,
//                 BadRequestError 400, InternalServerError / OverloadedError for 5xx)
//   stream_error  a stream that fails after it started (an "event: error"): the error the SDK
//                 throws from finalMessage() and the events seen before it
//   auth_apikey   create with the key as apiKey
//   auth_bearer   create with the key as authToken
//   auth_xapikey  create with the key in an explicit x-api-key header (no apiKey, no authToken)
// Note: SDK 1.x (API version 2026-10-21, which it sends as anthropic-version) sends apiKey as
// "Authorization: Bearer <key>", like authToken; only auth_xapikey sends x-api-key. GW_AUTH picks
// how the other cases send the key: "apikey" (default, the SDK's own way), "bearer" or
// "x-api-key" (needed against the fake provider directly, which wants x-api-key).
// Each case prints ONE JSON line with what the SDK observed and exits 0; the auth cases print
// {"ok":false,...} for an API error. An unexpected exception (or a reply where an error was
// expected) exits 1 with a message on stderr.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The SDK is resolved from tests/npm (next to this folder), whatever the working directory.
const npmDir = fileURLToPath(new URL('../npm/', import.meta.url));
if (!existsSync(`${npmDir}node_modules/@anthropic-ai/sdk/package.json`)) {
  process.stderr.write(`@anthropic-ai/sdk not installed in ${npmDir}: run scripts/sdk-deps.sh\n`);
  process.exit(1);
}
const require = createRequire(`${npmDir}package.json`);
const sdk = require('@anthropic-ai/sdk');
const Anthropic = sdk.Anthropic ?? sdk.default ?? sdk;

const baseURL = process.env.GW_BASE_URL;
const key = process.env.GW_KEY;
const model = process.argv[3] ?? process.env.GW_MODEL ?? 'anthropic:claude-ok';

// The three ways to send the key. Credentials are always explicit (null for the unused kinds),
// so ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN in the environment never leak into a case.
const auths = {
  apikey: { apiKey: key, authToken: null },
  bearer: { apiKey: null, authToken: key },
  'x-api-key': { apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': key } },
};
const defaultAuth = process.env.GW_AUTH ?? 'apikey';
if (!Object.hasOwn(auths, defaultAuth)) {
  process.stderr.write(`GW_AUTH must be one of ${Object.keys(auths).join(', ')}\n`);
  process.exit(2);
}

function client(auth = defaultAuth) {
  return new Anthropic({ ...auths[auth], baseURL, maxRetries: 0, timeout: 10_000 });
}

const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const tools = [
  {
    name: 'get_weather',
    description: 'Current weather of a city',
    input_schema: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
];
const params = { model, max_tokens: 64, messages };

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function header(err, name) {
  const h = err?.headers;
  if (h == null) return null;
  if (typeof h.get === 'function') return h.get(name);
  return h[name] ?? null;
}

// What a case reports about an SDK error.
function describeError(err) {
  return {
    name: err.constructor.name,
    status: err.status ?? null,
    type: err.error?.error?.type ?? err.type ?? null,
    message: err.message,
    retryAfter: header(err, 'retry-after'),
    instanceofAPIError: err instanceof Anthropic.APIError,
    instanceofRateLimit: err instanceof Anthropic.RateLimitError,
    instanceofAuth: err instanceof Anthropic.AuthenticationError,
    instanceofBadRequest: err instanceof Anthropic.BadRequestError,
    instanceofInternal: err instanceof Anthropic.InternalServerError,
  };
}

// Runs fn, which must throw an SDK API error; returns that error.
async function expectError(fn) {
  let res;
  try {
    res = await fn();
  } catch (err) {
    if (!(err instanceof Anthropic.APIError)) throw err;
    return err;
  }
  throw new Error(`expected an API error, got a reply: ${JSON.stringify(res)}`);
}

function summary(msg) {
  const thinking = msg.content.find((b) => b.type === 'thinking');
  return {
    id: msg.id,
    model: msg.model,
    role: msg.role,
    text: msg.content
      .filter((b) => b.type === 'text')
      .map((b) => b.text)
      .join(''),
    blocks: msg.content.map((b) => b.type),
    thinking: thinking == null ? null : { text: thinking.thinking, signature: thinking.signature },
    stop_reason: msg.stop_reason,
    usage: msg.usage,
  };
}

function toolSummary(msg) {
  const tool = msg.content.find((b) => b.type === 'tool_use');
  if (tool == null) throw new Error(`no tool_use block in ${JSON.stringify(msg)}`);
  return { ...summary(msg), tool: { id: tool.id, name: tool.name, input: tool.input } };
}

// Streams extra params; returns the final message and what was seen on the way.
async function streamed(extra, c = client()) {
  const s = c.messages.stream({ ...params, ...extra });
  const events = [];
  const deltas = [];
  const partials = [];
  s.on('streamEvent', (ev) => {
    events.push(ev.type);
    if (ev.type !== 'content_block_delta') return;
    if (ev.delta.type === 'text_delta') deltas.push(ev.delta.text);
    if (ev.delta.type === 'input_json_delta') partials.push(ev.delta.partial_json);
  });
  try {
    return { msg: await s.finalMessage(), events, deltas, partials };
  } catch (err) {
    err.seenEvents = events;
    throw err;
  }
}

async function auth(how) {
  try {
    const msg = await client(how).messages.create(params);
    return { auth: how, ok: true, ...summary(msg) };
  } catch (err) {
    if (!(err instanceof Anthropic.APIError)) throw err;
    return { auth: how, ok: false, ...describeError(err) };
  }
}

const cases = {
  async create() {
    return summary(await client().messages.create(params));
  },
  async stream() {
    const { msg, events, deltas } = await streamed({});
    return { ...summary(msg), events, deltas };
  },
  async tools() {
    return toolSummary(await client().messages.create({ ...params, tools }));
  },
  async stream_tools() {
    const { msg, events, partials } = await streamed({ tools });
    return { ...toolSummary(msg), events, partials };
  },
  async error() {
    return describeError(await expectError(() => client().messages.create(params)));
  },
  async stream_error() {
    const err = await expectError(() => streamed({}));
    return { ...describeError(err), events: err.seenEvents ?? null };
  },
  auth_apikey: () => auth('apikey'),
  auth_bearer: () => auth('bearer'),
  auth_xapikey: () => auth('x-api-key'),
};

const name = process.argv[2];
if (!Object.hasOwn(cases, name)) {
  process.stderr.write(`usage: anthropic_messages.mjs <${Object.keys(cases).join('|')}> [model]\n`);
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
