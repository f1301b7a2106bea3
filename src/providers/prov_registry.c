/*
 * Provider table (spec §7.3 at the reference snapshot, plus the later additions listed there).
 */
#include "providers/prov_registry.h"

#include <stdio.h>
#include <string.h>

static const struct prov_info prov_table[] = {
    {"anthropic", PROV_D_ANTHROPIC, "https://api.anthropic.com", "ANTHROPIC_API_KEY", NULL,
     "ANTHROPIC_BASE_URL", PROV_AUTH_X_API_KEY},
    {"atlascloud", PROV_D_OPENAI, "https://api.atlascloud.ai/v1", "ATLASCLOUD_API_KEY", NULL,
     "ATLASCLOUD_API_BASE", PROV_AUTH_BEARER},
    {"azure", PROV_D_AZURE, NULL, "AZURE_API_KEY", NULL, "AZURE_AI_CHAT_ENDPOINT",
     PROV_AUTH_API_KEY},
    {"azureanthropic", PROV_D_ANTHROPIC, NULL, "AZURE_ANTHROPIC_API_KEY", NULL,
     "AZURE_ANTHROPIC_API_BASE", PROV_AUTH_X_API_KEY},
    {"azureopenai", PROV_D_AZURE_OPENAI, NULL, "AZURE_OPENAI_API_KEY", NULL,
     "AZURE_OPENAI_ENDPOINT", PROV_AUTH_API_KEY},
    {"bedrock", PROV_D_BEDROCK, NULL, "AWS_BEARER_TOKEN_BEDROCK", NULL,
     "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", PROV_AUTH_CLOUD},
    {"cascadia", PROV_D_OPENAI, "http://localhost:9090/v1", "CASCADIA_API_KEY", NULL,
     "CASCADIA_API_BASE", PROV_AUTH_BEARER},
    {"cerebras", PROV_D_OPENAI, "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", NULL,
     "CEREBRAS_API_BASE", PROV_AUTH_BEARER},
    {"cohere", PROV_D_COHERE, "https://api.cohere.com", "COHERE_API_KEY", "CO_API_KEY",
     "CO_API_URL", PROV_AUTH_BEARER},
    {"dashscope", PROV_D_OPENAI, "https://dashscope.aliyuncs.com/compatible-mode/v1",
     "DASHSCOPE_API_KEY", NULL, "DASHSCOPE_API_BASE", PROV_AUTH_BEARER},
    {"databricks", PROV_D_OPENAI, NULL, "DATABRICKS_TOKEN", NULL, "DATABRICKS_HOST",
     PROV_AUTH_BEARER},
    {"deepinfra", PROV_D_OPENAI, "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY", NULL,
     "DEEPINFRA_API_BASE", PROV_AUTH_BEARER},
    {"deepseek", PROV_D_OPENAI, "https://api.deepseek.com", "DEEPSEEK_API_KEY", NULL,
     "DEEPSEEK_API_BASE", PROV_AUTH_BEARER},
    {"edenai", PROV_D_OPENAI, "https://api.edenai.run/v3", "EDENAI_API_KEY", NULL,
     "EDENAI_API_BASE", PROV_AUTH_BEARER},
    {"fireworks", PROV_D_OPENAI, "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", NULL,
     "FIREWORKS_API_BASE", PROV_AUTH_BEARER},
    {"gateway", PROV_D_OPENAI, NULL, "GATEWAY_API_KEY", NULL, "GATEWAY_API_BASE", PROV_AUTH_BEARER},
    {"gemini", PROV_D_GEMINI, "https://generativelanguage.googleapis.com", "GEMINI_API_KEY",
     "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", PROV_AUTH_GOOG},
    {"github", PROV_D_OPENAI, "https://models.github.ai/inference", "GITHUB_TOKEN", NULL,
     "GITHUB_API_BASE", PROV_AUTH_BEARER},
    {"gmi", PROV_D_OPENAI, "https://api.gmi-serving.com/v1", "GMI_API_KEY", NULL, "GMI_API_BASE",
     PROV_AUTH_BEARER},
    {"groq", PROV_D_OPENAI, "https://api.groq.com/openai/v1", "GROQ_API_KEY", NULL, "GROQ_BASE_URL",
     PROV_AUTH_BEARER},
    {"huggingface", PROV_D_OPENAI, "https://router.huggingface.co/v1", "HF_TOKEN", NULL,
     "HUGGINGFACE_API_BASE", PROV_AUTH_BEARER},
    {"inception", PROV_D_OPENAI, "https://api.inceptionlabs.ai/v1", "INCEPTION_API_KEY", NULL,
     "INCEPTION_API_BASE", PROV_AUTH_BEARER},
    {"kenari", PROV_D_OPENAI, "https://kenari.id/v1", "KENARI_API_KEY", NULL, "KENARI_API_BASE",
     PROV_AUTH_BEARER},
    {"llama", PROV_D_OPENAI, "https://api.llama.com/compat/v1/", "LLAMA_API_KEY", NULL,
     "LLAMA_API_BASE", PROV_AUTH_BEARER},
    {"llamacpp", PROV_D_OPENAI, "http://127.0.0.1:8080/v1", NULL, NULL, "LLAMACPP_API_BASE",
     PROV_AUTH_NONE},
    {"llamafile", PROV_D_OPENAI, "http://127.0.0.1:8080/v1", NULL, NULL, "LLAMAFILE_API_BASE",
     PROV_AUTH_NONE},
    {"lmstudio", PROV_D_OPENAI, "http://localhost:1234/v1", "LM_STUDIO_API_KEY", NULL,
     "LM_STUDIO_API_BASE", PROV_AUTH_BEARER},
    {"meta", PROV_D_OPENAI, "https://api.meta.ai/v1", "MODEL_API_KEY", NULL, "META_API_BASE",
     PROV_AUTH_BEARER},
    {"minimax", PROV_D_OPENAI, "https://api.minimax.io/v1", "MINIMAX_API_KEY", NULL,
     "MINIMAX_API_BASE", PROV_AUTH_BEARER},
    {"mistral", PROV_D_OPENAI, "https://api.mistral.ai/v1", "MISTRAL_API_KEY", NULL,
     "MISTRAL_API_BASE", PROV_AUTH_BEARER},
    {"moonshot", PROV_D_OPENAI, "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", NULL,
     "MOONSHOT_API_BASE", PROV_AUTH_BEARER},
    {"mzai", PROV_D_OPENAI, "https://platform-api.any-llm.ai/api/v1", "ANY_LLM_KEY", NULL,
     "ANY_LLM_PLATFORM_URL", PROV_AUTH_BEARER},
    {"nebius", PROV_D_OPENAI, "https://api.studio.nebius.ai/v1", "NEBIUS_API_KEY", NULL,
     "NEBIUS_API_BASE", PROV_AUTH_BEARER},
    {"neosantara", PROV_D_OPENAI, "https://api.neosantara.xyz/v1", "NEOSANTARA_API_KEY", NULL,
     "NEOSANTARA_API_BASE", PROV_AUTH_BEARER},
    {"ollama", PROV_D_OLLAMA, "http://localhost:11434", NULL, NULL, "OLLAMA_HOST", PROV_AUTH_NONE},
    {"openai", PROV_D_OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY", NULL,
     "OPENAI_BASE_URL", PROV_AUTH_BEARER},
    {"openrouter", PROV_D_OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", NULL,
     "OPENROUTER_API_BASE", PROV_AUTH_BEARER},
    {"otari", PROV_D_OPENAI, NULL, "OTARI_API_KEY", NULL, "OTARI_API_BASE", PROV_AUTH_BEARER},
    {"ovhcloud", PROV_D_OPENAI, "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
     "OVHCLOUD_API_KEY", NULL, "OVHCLOUD_API_BASE", PROV_AUTH_BEARER},
    {"perplexity", PROV_D_OPENAI, "https://api.perplexity.ai", "PERPLEXITY_API_KEY", NULL,
     "PERPLEXITY_BASE_URL", PROV_AUTH_BEARER},
    {"portkey", PROV_D_OPENAI, "https://api.portkey.ai/v1", "PORTKEY_API_KEY", NULL,
     "PORTKEY_API_BASE", PROV_AUTH_BEARER},
    {"qiniu", PROV_D_OPENAI, "https://api.qnaigc.com/v1", "QINIU_API_KEY", NULL, "QINIU_API_BASE",
     PROV_AUTH_BEARER},
    {"requesty", PROV_D_OPENAI, "https://router.requesty.ai/v1", "REQUESTY_API_KEY", NULL,
     "REQUESTY_API_BASE", PROV_AUTH_BEARER},
    {"sagemaker", PROV_D_SAGEMAKER, NULL, NULL, NULL, "SAGEMAKER_ENDPOINT_URL", PROV_AUTH_CLOUD},
    {"sambanova", PROV_D_OPENAI, "https://api.sambanova.ai/v1/", "SAMBANOVA_API_KEY", NULL,
     "SAMBANOVA_API_BASE", PROV_AUTH_BEARER},
    {"telnyx", PROV_D_OPENAI, "https://api.telnyx.com/v2/ai", "TELNYX_API_KEY", NULL,
     "TELNYX_API_BASE", PROV_AUTH_BEARER},
    {"together", PROV_D_OPENAI, "https://api.together.xyz/v1", "TOGETHER_API_KEY", NULL,
     "TOGETHER_API_BASE", PROV_AUTH_BEARER},
    {"vertexai", PROV_D_VERTEX, NULL, NULL, NULL, "VERTEXAI_API_BASE", PROV_AUTH_GOOGLE},
    {"vertexaianthropic", PROV_D_ANTHROPIC_VERTEX, NULL, NULL, NULL, "VERTEXAI_ANTHROPIC_API_BASE",
     PROV_AUTH_GOOGLE},
    {"vllm", PROV_D_OPENAI, "http://localhost:8000/v1", "VLLM_API_KEY", NULL, "VLLM_API_BASE",
     PROV_AUTH_BEARER},
    {"voyage", PROV_D_VOYAGE, "https://api.voyageai.com/v1", "VOYAGE_API_KEY", NULL,
     "VOYAGE_API_BASE", PROV_AUTH_BEARER},
    {"watsonx", PROV_D_WATSONX, NULL, "WATSONX_API_KEY", NULL, "WATSONX_URL", PROV_AUTH_IBM_IAM},
    {"xai", PROV_D_OPENAI, "https://api.x.ai/v1", "XAI_API_KEY", NULL, "XAI_API_BASE",
     PROV_AUTH_BEARER},
    {"zai", PROV_D_OPENAI, "https://api.z.ai/api/paas/v4/", "ZAI_API_KEY", NULL, "ZAI_BASE_URL",
     PROV_AUTH_BEARER},
};

#define PROV_N (sizeof(prov_table) / sizeof(prov_table[0]))

unsigned prov_caps(const struct prov_info *p)
{
    switch (p->dialect) {
    case PROV_D_OPENAI:
        return PROV_CAP_CHAT | PROV_CAP_STREAM | PROV_CAP_EMBED;
    case PROV_D_ANTHROPIC:
    case PROV_D_ANTHROPIC_VERTEX:
        return PROV_CAP_CHAT | PROV_CAP_STREAM | PROV_CAP_MESSAGES_NATIVE;
    case PROV_D_GEMINI:
    case PROV_D_VERTEX:
    case PROV_D_COHERE:
    case PROV_D_OLLAMA:
    case PROV_D_AZURE_OPENAI:
    case PROV_D_AZURE:
    case PROV_D_BEDROCK:
    case PROV_D_SAGEMAKER:
        return PROV_CAP_CHAT | PROV_CAP_STREAM | PROV_CAP_EMBED;
    case PROV_D_VOYAGE:
        return PROV_CAP_EMBED;
    case PROV_D_WATSONX:
        return PROV_CAP_CHAT | PROV_CAP_STREAM;
    }
    return 0;
}

const struct prov_info *prov_find(const char *id)
{
    for (size_t i = 0; i < PROV_N; i++)
        if (strcmp(prov_table[i].id, id) == 0)
            return &prov_table[i];
    return NULL;
}

size_t prov_count(void)
{
    return PROV_N;
}

const struct prov_info *prov_at(size_t i)
{
    return i < PROV_N ? &prov_table[i] : NULL;
}

const struct prov_info *prov_split_model(const char *s, char *provider, size_t plen,
                                         const char **model, char *err, size_t errlen)
{
    const char *colon = strchr(s, ':'), *slash = strchr(s, '/'), *sep;
    const struct prov_info *p;
    size_t n;

    if (colon != NULL && (slash == NULL || colon < slash))
        sep = colon;
    else
        sep = slash;
    if (sep == NULL || sep == s || sep[1] == '\0') {
        snprintf(err, errlen,
                 "Invalid model format. Expected 'provider:model' or 'provider/model', got '%s'",
                 s);
        return NULL;
    }
    n = (size_t)(sep - s);
    if (n >= plen) {
        snprintf(err, errlen, "'%.*s' is not a supported provider", (int)(n > 64 ? 64 : n), s);
        return NULL;
    }
    memcpy(provider, s, n);
    provider[n] = '\0';
    p = prov_find(provider);
    if (p == NULL) {
        snprintf(err, errlen,
                 "'%s' is not a supported provider. Use 'provider:model' with a provider id such "
                 "as openai, anthropic, gemini, mistral, groq, ollama",
                 provider);
        return NULL;
    }
    *model = sep + 1;
    return p;
}
