/*
 * Unit tests of AWS Signature Version 4 (prov_sigv4): the providers.md §15 Bedrock vector, three
 * cases of AWS's published SigV4 test suite (get-vanilla, get-vanilla-query-order-key-case,
 * post-x-www-form-urlencoded), a session token, hosts with ports, query canonicalisation, the
 * header rules, model-id segment encoding, errors without secrets and the prov_http wrapper.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/prov_dialect.h"
#include "providers/prov_sigv4.h"
#include "sha256.h"

static const struct prov_aws_creds suite_creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, "us-east-1"};

static time_t at(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};

    return timegm(&tm);
}

/* The hex SHA-256 of s. */
static const char *hash_of(const char *s, char hex[SHA256_HEX_LEN])
{
    return sha256_hex(s, strlen(s), hex);
}

/* The line'th line (0-based) of s, into buf. */
static const char *line_of(const char *s, int line, char *buf, size_t len)
{
    for (; line > 0 && s != NULL; line--) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    ck_assert_ptr_nonnull(s);
    snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
    return buf;
}

START_TEST(bedrock_vector)
{
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],"
                       "\"inferenceConfig\":{\"maxTokens\":64}}";
    const struct httpc_header hs[] = {{"Content-Type", "application/json"}};
    struct prov_aws_creds c = suite_creds;
    struct prov_sigv4 s;
    char err[256] = "", hex[SHA256_HEX_LEN], ln[256];

    c.region = "us-east-1";
    ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "POST",
                                        "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                                        "anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                                        hs, 1, body, strlen(body), at(2024, 1, 2, 3, 4, 5), &s, err,
                                        sizeof(err)),
                     0);
    ck_assert_str_eq(s.amz_date, "20240102T030405Z");
    ck_assert_str_eq(line_of(s.canonical_request, 1, ln, sizeof(ln)),
                     "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
    ck_assert_str_eq(line_of(s.canonical_request, 3, ln, sizeof(ln)),
                     "content-type:application/json");
    ck_assert_str_eq(line_of(s.canonical_request, 4, ln, sizeof(ln)),
                     "host:bedrock-runtime.us-east-1.amazonaws.com");
    ck_assert_str_eq(s.signed_headers, "content-type;host;x-amz-date");
    ck_assert_str_eq(line_of(s.canonical_request, 8, ln, sizeof(ln)),
                     "9fe85f2d1d832f88fa910da82e4380943a72b2d8f884106428ba8c4588a20b85");
    ck_assert_str_eq(hash_of(s.canonical_request, hex),
                     "ff67134bb59f722cd088b641f98f5eeda6d7eae37eee9212d1a1c3fcbda1b91d");
    ck_assert_str_eq(s.string_to_sign,
                     "AWS4-HMAC-SHA256\n20240102T030405Z\n20240102/us-east-1/bedrock/aws4_request\n"
                     "ff67134bb59f722cd088b641f98f5eeda6d7eae37eee9212d1a1c3fcbda1b91d");
    ck_assert_str_eq(s.signature,
                     "bcdbb592908bc9d51740003f32a08784cdb51f26984649d92d41d277afe8cbf6");
    ck_assert_str_eq(s.authorization,
                     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/bedrock/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=bcdbb592908bc9d51740003f32a08784cdb51f26984649d92d41d277afe8cbf6");
    prov_sigv4_free(&s);
    ck_assert_ptr_null(s.authorization);
}
END_TEST

/* Signs one case of AWS's test suite (20150830T123600Z, us-east-1, service "service"). */
static void suite_case(const char *method, const char *url, const struct httpc_header *hs,
                       size_t nh, const char *body, const char *canon_hash, const char *sig)
{
    struct prov_sigv4 s;
    char err[256] = "", hex[SHA256_HEX_LEN], want[512];

    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "service", method, url, hs, nh, body,
                                        body ? strlen(body) : 0, at(2015, 8, 30, 12, 36, 0), &s,
                                        err, sizeof(err)),
                     0);
    if (canon_hash != NULL)
        ck_assert_str_eq(hash_of(s.canonical_request, hex), canon_hash);
    ck_assert_str_eq(s.signature, sig);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             nh ? "content-type;host;x-amz-date" : "host;x-amz-date", sig);
    ck_assert_str_eq(s.authorization, want);
    prov_sigv4_free(&s);
}

START_TEST(aws_suite_get_vanilla)
{
    suite_case("GET", "https://example.amazonaws.com/", NULL, 0, NULL,
               "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* An empty path is "/". */
    suite_case("GET", "https://example.amazonaws.com", NULL, 0, NULL, NULL,
               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}
END_TEST

START_TEST(aws_suite_query_order)
{
    suite_case("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", NULL, 0, NULL,
               NULL, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}
END_TEST

START_TEST(aws_suite_post_form)
{
    const struct httpc_header hs[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    struct prov_sigv4 s;
    char err[256] = "", ln[128];

    suite_case("POST", "https://example.amazonaws.com/", hs, 1, "Param1=value1", NULL,
               "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "service", "POST",
                                        "https://example.amazonaws.com/", hs, 1, "Param1=value1",
                                        13, at(2015, 8, 30, 12, 36, 0), &s, err, sizeof(err)),
                     0);
    ck_assert_str_eq(line_of(s.string_to_sign, 3, ln, sizeof(ln)),
                     "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
    prov_sigv4_free(&s);
}
END_TEST

/* The signature recomputed here from the string to sign with the documented key chain. */
static void check_chain(const struct prov_sigv4 *s, const char *secret, const char *day,
                        const char *region, const char *service)
{
    unsigned char k[32];
    unsigned int n;
    char k0[128], hex[SHA256_HEX_LEN];
    const char *parts[] = {day, region, service, "aws4_request"};

    snprintf(k0, sizeof(k0), "AWS4%s", secret);
    HMAC(EVP_sha256(), k0, (int)strlen(k0), (const unsigned char *)parts[0], strlen(parts[0]), k,
         &n);
    for (int i = 1; i < 4; i++)
        HMAC(EVP_sha256(), k, 32, (const unsigned char *)parts[i], strlen(parts[i]), k, &n);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)s->string_to_sign, strlen(s->string_to_sign),
         k, &n);
    ck_assert_str_eq(sha256_to_hex(k, 32, hex), s->signature);
}

START_TEST(session_token)
{
    const struct httpc_header hs[] = {{"Content-Type", "application/json"}};
    struct prov_aws_creds c = suite_creds;
    struct prov_sigv4 plain, tok;
    char err[256] = "", ln[256];
    time_t t = at(2024, 1, 2, 3, 4, 5);

    c.region = "eu-west-3";
    ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "POST", "https://h.example/x", hs, 1, "{}",
                                        2, t, &plain, err, sizeof(err)),
                     0);
    c.session_token = "  FQoGZXIvYXdzE  token  ";
    ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "POST", "https://h.example/x", hs, 1, "{}",
                                        2, t, &tok, err, sizeof(err)),
                     0);
    ck_assert_str_eq(tok.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
    ck_assert_str_eq(line_of(tok.canonical_request, 6, ln, sizeof(ln)),
                     "x-amz-security-token:FQoGZXIvYXdzE token");
    ck_assert_ptr_nonnull(strstr(tok.authorization, "/20240102/eu-west-3/bedrock/aws4_request, "
                                                    "SignedHeaders=content-type;host;x-amz-date;"
                                                    "x-amz-security-token, Signature="));
    ck_assert_str_ne(plain.signature, tok.signature);
    check_chain(&tok, c.secret_key, "20240102", "eu-west-3", "bedrock");
    check_chain(&plain, c.secret_key, "20240102", "eu-west-3", "bedrock");
    prov_sigv4_free(&plain);
    prov_sigv4_free(&tok);
}
END_TEST

static void host_case(const char *url, const char *host_line, const char *uri_line)
{
    struct prov_sigv4 s;
    char err[256] = "", ln[256];

    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "bedrock", "GET", url, NULL, 0, NULL, 0,
                                        at(2024, 1, 2, 3, 4, 5), &s, err, sizeof(err)),
                     0);
    ck_assert_str_eq(line_of(s.canonical_request, 3, ln, sizeof(ln)), host_line);
    ck_assert_str_eq(line_of(s.canonical_request, 1, ln, sizeof(ln)), uri_line);
    prov_sigv4_free(&s);
}

START_TEST(url_hosts_and_ports)
{
    host_case("http://127.0.0.1:8080/model/m%3A0/converse-stream", "host:127.0.0.1:8080",
              "/model/m%253A0/converse-stream");
    host_case("https://Bedrock.Example:443/a", "host:bedrock.example", "/a");
    host_case("http://h.example:80/a#frag", "host:h.example", "/a");
    host_case("https://h.example:8443", "host:h.example:8443", "/");
    host_case("http://[::1]:9000/x~y/a b", "host:[::1]:9000", "/x~y/a%20b");
    host_case("https://user:pw@h.example/p", "host:h.example", "/p");
}
END_TEST

static void query_case(const char *url, const char *want)
{
    struct prov_sigv4 s;
    char err[256] = "", ln[256];

    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "service", "GET", url, NULL, 0, NULL, 0,
                                        at(2015, 8, 30, 12, 36, 0), &s, err, sizeof(err)),
                     0);
    ck_assert_str_eq(line_of(s.canonical_request, 2, ln, sizeof(ln)), want);
    prov_sigv4_free(&s);
}

START_TEST(query_strings)
{
    query_case("https://e.example/?b=2&a=1&A=0", "A=0&a=1&b=2");
    query_case("https://e.example/?b=2&b=1&a", "a=&b=1&b=2");
    query_case("https://e.example/?x=a%2Fb+c&&y=%zz&z=%7e", "x=a%2Fb%20c&y=%25zz&z=~");
    query_case("https://e.example/p?k=v#frag", "k=v");
    query_case("https://e.example/p?", "");
}
END_TEST

START_TEST(header_rules)
{
    const struct httpc_header hs[] = {{"Accept", "application/vnd.amazon.eventstream"},
                                      {"X-Amz-Target", "  a   b\t c "},
                                      {"x-amz-target", "second"},
                                      {"Content-Type", "application/json"},
                                      {"X-Custom", "unsigned"}};
    const struct httpc_header bad[] = {{"Host", "evil.example"}};
    const struct httpc_header bad2[] = {{"authorization", "x"}};
    struct prov_sigv4 s;
    char err[256] = "", ln[256];

    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "bedrock", "POST", "https://h.example/", hs,
                                        5, "{}", 2, at(2024, 1, 2, 3, 4, 5), &s, err, sizeof(err)),
                     0);
    ck_assert_str_eq(s.signed_headers, "content-type;host;x-amz-date;x-amz-target");
    ck_assert_str_eq(line_of(s.canonical_request, 6, ln, sizeof(ln)), "x-amz-target:a b c,second");
    prov_sigv4_free(&s);
    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "bedrock", "GET", "https://h.example/", bad,
                                        1, NULL, 0, 0, &s, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "sigv4: header 'host' is set by the signer");
    ck_assert_int_eq(prov_sigv4_compute(&suite_creds, "bedrock", "GET", "https://h.example/", bad2,
                                        1, NULL, 0, 0, &s, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(s.authorization);
}
END_TEST

START_TEST(errors_without_secrets)
{
    struct prov_aws_creds c = suite_creds;
    struct prov_sigv4 s;
    char err[256];
    const char *urls[] = {"ftp://h.example/", "https:///nohost", "h.example/x", "http://[::1/x"};

    c.session_token = "SESSIONTOKENSECRET";
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        err[0] = '\0';
        ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "GET", urls[i], NULL, 0, NULL, 0, 0, &s,
                                            err, sizeof(err)),
                         -1);
        ck_assert_ptr_nonnull(strstr(err, "sigv4: "));
        ck_assert_ptr_null(strstr(err, "wJalr"));
        ck_assert_ptr_null(strstr(err, "SESSIONTOKEN"));
    }
    c.secret_key = "";
    ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "GET", "https://h/", NULL, 0, NULL, 0, 0, &s,
                                        err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "sigv4: the secret access key is missing");
    c = suite_creds;
    c.region = NULL;
    ck_assert_int_eq(prov_sigv4_compute(&c, "bedrock", "GET", "https://h/", NULL, 0, NULL, 0, 0, &s,
                                        err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "sigv4: the region is missing");
}
END_TEST

START_TEST(segment_encoding)
{
    char *a = prov_sigv4_encode_segment("us.anthropic.claude-3-5-haiku-20241022-v1:0");
    char *b = prov_sigv4_encode_segment(
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x~1");
    char *c = prov_sigv4_encode_segment("a b%/+?#\xc3\xa9");

    ck_assert_str_eq(a, "us.anthropic.claude-3-5-haiku-20241022-v1%3A0");
    ck_assert_str_eq(b, "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus."
                        "anthropic.claude-x~1");
    ck_assert_str_eq(c, "a%20b%25%2F%2B%3F%23%C3%A9");
    free(a);
    free(b);
    free(c);
    a = prov_sigv4_encode_segment("");
    ck_assert_str_eq(a, "");
    free(a);
}
END_TEST

START_TEST(sign_prov_http)
{
    struct prov_aws_creds c = suite_creds;
    struct prov_http h = {0};
    char err[256] = "";
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],"
                       "\"inferenceConfig\":{\"maxTokens\":64}}";

    h.url = strdup("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                   "anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    h.body = strdup(body);
    h.body_len = strlen(body);
    ck_assert_int_eq(prov_http_add(&h, "Content-Type", "application/json"), 0);
    ck_assert_int_eq(
        prov_sigv4_sign(&c, "bedrock", "POST", at(2024, 1, 2, 3, 4, 5), &h, err, sizeof(err)), 0);
    ck_assert_uint_eq(h.nheaders, 3);
    ck_assert_str_eq(h.headers[1].name, "X-Amz-Date");
    ck_assert_str_eq(h.headers[1].value, "20240102T030405Z");
    ck_assert_str_eq(h.headers[2].name, "Authorization");
    ck_assert_ptr_nonnull(
        strstr(h.headers[2].value,
               "Signature=bcdbb592908bc9d51740003f32a08784cdb51f26984649d92d41d277afe8cbf6"));
    prov_http_cleanup(&h);

    h = (struct prov_http){0};
    h.url = strdup("https://h.example/x");
    c.session_token = "tok";
    ck_assert_int_eq(prov_sigv4_sign(&c, "bedrock", "POST", 0, &h, err, sizeof(err)), 0);
    ck_assert_uint_eq(h.nheaders, 3);
    ck_assert_str_eq(h.headers[1].name, "X-Amz-Security-Token");
    ck_assert_str_eq(h.headers[1].value, "tok");
    ck_assert_ptr_nonnull(strstr(h.headers[2].value, "x-amz-date;x-amz-security-token,"));
    prov_http_cleanup(&h);
}
END_TEST

Suite *sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("vectors");

    tcase_add_test(tc, bedrock_vector);
    tcase_add_test(tc, aws_suite_get_vanilla);
    tcase_add_test(tc, aws_suite_query_order);
    tcase_add_test(tc, aws_suite_post_form);
    tcase_add_test(tc, session_token);
    suite_add_tcase(s, tc);

    tc = tcase_create("canonical");
    tcase_add_test(tc, url_hosts_and_ports);
    tcase_add_test(tc, query_strings);
    tcase_add_test(tc, header_rules);
    tcase_add_test(tc, errors_without_secrets);
    tcase_add_test(tc, segment_encoding);
    tcase_add_test(tc, sign_prov_http);
    suite_add_tcase(s, tc);
    return s;
}
