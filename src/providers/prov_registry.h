/*
 * The provider registry: one data row per provider id (spec §7.3) with its wire dialect,
 * default base URL and environment variables, plus the model-string parser of spec §7.1.
 */
#ifndef PROV_REGISTRY_H
#define PROV_REGISTRY_H

#include <stddef.h>

enum prov_dialect {
    PROV_D_OPENAI,           /* OpenAI chat/completions wire format at base_url */
    PROV_D_ANTHROPIC,        /* Anthropic Messages API */
    PROV_D_ANTHROPIC_VERTEX, /* Anthropic Messages on Vertex AI (URL and OAuth of its own) */
    PROV_D_GEMINI,           /* Google Gemini API (generateContent) */
    PROV_D_VERTEX,           /* Gemini on Vertex AI (generateContent at a Vertex URL, OAuth) */
    PROV_D_COHERE,           /* Cohere v2 chat / embed */
    PROV_D_OLLAMA,           /* Ollama native (/api/chat, NDJSON streams, /api/embed) */
    PROV_D_VOYAGE,           /* Voyage AI (embeddings only) */
    PROV_D_WATSONX,          /* IBM watsonx.ai text/chat (IAM bearer) */
    PROV_D_AZURE_OPENAI,     /* Azure OpenAI: the OpenAI wire at deployment / v1 URLs */
    PROV_D_AZURE,            /* Azure AI Inference (Foundry models): the OpenAI wire */
    PROV_D_BEDROCK,          /* AWS Bedrock Converse (SigV4 or API key, AWS event stream) */
    PROV_D_SAGEMAKER,        /* SageMaker endpoints with OpenAI-compatible containers (SigV4) */
};

/* How a provider expects its API key. */
enum prov_auth {
    PROV_AUTH_BEARER = 0, /* Authorization: Bearer <key> (the OpenAI wire; the default) */
    PROV_AUTH_X_API_KEY,  /* x-api-key: <key> (Anthropic) */
    PROV_AUTH_API_KEY,    /* api-key: <key> (Azure) */
    PROV_AUTH_GOOG,       /* x-goog-api-key: <key> (Gemini) */
    PROV_AUTH_CLOUD,      /* cloud credentials (AWS SigV4) */
    PROV_AUTH_GOOGLE,     /* Google OAuth bearer from a service account (prov_token.h) */
    PROV_AUTH_IBM_IAM,    /* IBM IAM bearer exchanged from the API key (prov_token.h) */
    PROV_AUTH_NONE,       /* local servers without a key */
};

struct prov_info {
    const char *id;
    enum prov_dialect dialect;
    const char *base_url;    /* NULL: must be configured */
    const char *key_env;     /* NULL: no key (sagemaker: AWS credentials only, prov_conf.h) */
    const char *key_env_alt; /* read when key_env is unset or empty (NULL: none) */
    const char *base_env;
    enum prov_auth auth; /* omitted in the table: PROV_AUTH_BEARER */
};

/* What a provider can be asked for (DESIGN.md §3: capabilities per provider). */
enum prov_cap {
    PROV_CAP_CHAT = 1 << 0,            /* chat completions, JSON */
    PROV_CAP_STREAM = 1 << 1,          /* chat completions, streamed */
    PROV_CAP_EMBED = 1 << 2,           /* embeddings */
    PROV_CAP_MESSAGES_NATIVE = 1 << 3, /* its own wire is the Anthropic Messages API */
};

/*
 * The capabilities of p that this gateway serves today (a mask of enum prov_cap): those of its
 * wire dialect, 0 for a dialect not implemented yet. Chat implies /v1/messages (bridged when not
 * native).
 */
unsigned prov_caps(const struct prov_info *p);

/* The provider with this exact (case-sensitive) id, or NULL. */
const struct prov_info *prov_find(const char *id);

/* Number of providers and the i-th one (for listings). */
size_t prov_count(void);
const struct prov_info *prov_at(size_t i);

/*
 * Splits "provider:model" (or the legacy "provider/model") as spec §7.1: the first ':' when it
 * comes before any '/', else the first '/'. Copies the provider id into provider (size plen)
 * and points *model into s. Returns the provider's row, or NULL with a one-line message in err
 * (malformed string, empty part, unknown provider; the valid form is named).
 */
const struct prov_info *prov_split_model(const char *s, char *provider, size_t plen,
                                         const char **model, char *err, size_t errlen);

#endif
