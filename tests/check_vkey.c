/*
 * Unit tests: SHA-256 test vectors (libcrypto), base64url, virtual key generation and format
 * checks, constant-time comparison, UUID4/UUID7 ids.
 */
#include <check.h>
#include <string.h>

#include "sha256.h"
#include "util.h"
#include "vkey.h"

START_TEST(sha256_vectors)
{
    char hex[SHA256_HEX_LEN];
    char million[1000001];

    ck_assert_str_eq(sha256_hex("", 0, hex),
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_str_eq(sha256_hex("abc", 3, hex),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_str_eq(
        sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(million, 'a', 1000000);
    ck_assert_str_eq(sha256_hex(million, 1000000, hex),
                     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(sha256_digest_matches_hex)
{
    unsigned char d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN], hex2[SHA256_HEX_LEN];

    ck_assert_int_eq(sha256_digest("abc", 3, d), 0);
    ck_assert_str_eq(sha256_to_hex(d, sizeof(d), hex), sha256_hex("abc", 3, hex2));
}
END_TEST

START_TEST(memfind)
{
    const char *h = "abcabd\0xyz";

    ck_assert_ptr_eq(util_memfind(h, 11, "abd", 3), h + 3);
    ck_assert_ptr_eq(util_memfind(h, 11, "xyz", 3), h + 7); /* past a NUL */
    ck_assert_ptr_eq(util_memfind(h, 11, "a", 1), h);
    ck_assert_ptr_null(util_memfind(h, 11, "abe", 3));
    ck_assert_ptr_null(util_memfind(h, 9, "xyz", 3)); /* cut by the length */
    ck_assert_ptr_null(util_memfind(h, 2, "abc", 3));
    ck_assert_ptr_null(util_memfind(h, 11, "", 0));
}
END_TEST

START_TEST(b64url)
{
    char out[16];

    ck_assert_uint_eq(vkey_b64url((const unsigned char *)"f", 1, out), 2);
    ck_assert_str_eq(out, "Zg");
    vkey_b64url((const unsigned char *)"fo", 2, out);
    ck_assert_str_eq(out, "Zm8");
    vkey_b64url((const unsigned char *)"foo", 3, out);
    ck_assert_str_eq(out, "Zm9v");
    vkey_b64url((const unsigned char *)"\xfb\xff\xfe", 3, out);
    ck_assert_str_eq(out, "-__-"); /* URL-safe alphabet */
}
END_TEST

START_TEST(generate_and_format)
{
    char k1[VKEY_LEN + 1], k2[VKEY_LEN + 1], buf[128];

    ck_assert_int_eq(vkey_generate(k1), 0);
    ck_assert_int_eq(vkey_generate(k2), 0);
    ck_assert_uint_eq(strlen(k1), 67);
    ck_assert_str_ne(k1, k2);
    ck_assert_ptr_null(vkey_format_error(k1, buf, sizeof(buf)));
    ck_assert_str_eq(vkey_format_error("sk-123", buf, sizeof(buf)),
                     "API key must start with 'gw-' prefix");
    ck_assert_str_eq(vkey_format_error("gw-short", buf, sizeof(buf)),
                     "API key is too short. Expected at least 50 characters, got 8");
    k1[20] = '!';
    ck_assert_str_eq(vkey_format_error(k1, buf, sizeof(buf)),
                     "API key contains invalid characters. Must match pattern: gw-[A-Za-z0-9_-]+");
}
END_TEST

START_TEST(hash_and_compare)
{
    char hex[SHA256_HEX_LEN];

    ck_assert_str_eq(vkey_hash("abc", hex),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert(vkey_ct_equal("master-key", "master-key"));
    ck_assert(!vkey_ct_equal("master-key", "master-kez"));
    ck_assert(!vkey_ct_equal("master-key", "master-key2"));
    ck_assert(!vkey_ct_equal("", "x"));
    ck_assert(!vkey_ct_equal("x", ""));
    ck_assert(vkey_ct_equal("", ""));
}
END_TEST

START_TEST(utf8_scrub)
{
    char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    char bad[] = "a\xff"
                 "b\xc3"
                 "c\xed\xa0\x80"
                 "d\xc0\xaf"
                 "e\xe2\x82";

    util_utf8_scrub(ok);
    ck_assert_str_eq(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* valid: untouched */
    util_utf8_scrub(bad); /* stray, truncated, surrogate, overlong, cut at the end */
    ck_assert_str_eq(bad, "a?b?c???d??e??");
}
END_TEST

START_TEST(uuid_versions_and_order)
{
    static const unsigned char r1[8] = {0xff, 1, 2, 3, 4, 5, 6, 7};
    static const unsigned char r0[8] = {0};
    char a[UTIL_UUID_LEN], b[UTIL_UUID_LEN], c[UTIL_UUID_LEN];

    ck_assert_int_eq(util_uuid4(a), 0);
    ck_assert_uint_eq(strlen(a), 36);
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]) != NULL);

    /* 2023-11-14T22:13:20.123456Z: 0x018bcfe5687b ms, fraction 456/1000 of 4096 = 0x74b */
    ck_assert_int_eq(util_uuid7(a, 1700000000123456LL, r1), 0);
    ck_assert_str_eq(a, "018bcfe5-687b-774b-bf01-020304050607");
    /* later times sort later, whatever the random part; within a millisecond too */
    ck_assert_int_eq(util_uuid7(b, 1700000000123457LL, r0), 0);
    ck_assert_int_eq(util_uuid7(c, 1700000000124000LL, r0), 0);
    ck_assert_int_lt(strcmp(a, b), 0);
    ck_assert_int_lt(strcmp(b, c), 0);
    ck_assert_int_eq(b[14], '7');
    ck_assert_int_eq(b[19], '8');
    ck_assert_int_eq(util_uuid7(a, -1, r0), -1);
}
END_TEST

Suite *vkey_suite(void)
{
    Suite *s = suite_create("vkey");
    TCase *tc = tcase_create("vkey");

    tcase_add_test(tc, sha256_vectors);
    tcase_add_test(tc, sha256_digest_matches_hex);
    tcase_add_test(tc, memfind);
    tcase_add_test(tc, b64url);
    tcase_add_test(tc, generate_and_format);
    tcase_add_test(tc, hash_and_compare);
    tcase_add_test(tc, uuid_versions_and_order);
    tcase_add_test(tc, utf8_scrub);
    suite_add_tcase(s, tc);
    return s;
}
