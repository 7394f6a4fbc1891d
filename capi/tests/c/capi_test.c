/*
 * The C API's test from C: every function, every error path, and several threads checking
 * through one handle. Built and run by tests/capi_c.rs, which writes the fixtures and the
 * expected answers (computed with the Rust API) into the directory given as argument:
 *
 *   index.imeiidx      a valid index          cases.tsv   single checks and their answers
 *   corrupt.imeiidx    a section checksum off probes.tsv  IMEIs for the threads
 *   empty.imeiidx      0 bytes                expect.txt  stats, versions, the tampered pair
 *   foreign.imeiidx    not an index           tampered.imeiidx  pair section damaged
 *
 * Every buffer handed to the library is allocated at its exact length and carries no NUL,
 * so that valgrind or AddressSanitizer catch any read past a length.
 * Prints "N passed, M failed" and exits non-zero when M > 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imei_index.h"
#include "check.h"


static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = xmalloc((size_t)n);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Decodes "x<hex digits>" into a buffer of exactly the decoded length, without a NUL. */
static char *unhex(const char *hex, size_t *len) {
    if (hex[0] != 'x') {
        fprintf(stderr, "bad hex field %s\n", hex);
        exit(2);
    }
    hex++;
    size_t n = strlen(hex) / 2;
    char *out = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned int b;
        sscanf(hex + 2 * i, "%2x", &b);
        out[i] = (char)b;
    }
    *len = n;
    return out;
}

/* This thread's last error message, in a buffer sized with the length query. */
static char *last_error(void) {
    size_t n = imei_index_last_error(NULL, 0);
    char *buf = xmalloc(n + 1);
    size_t m = imei_index_last_error(buf, n + 1);
    CHECK(m == n);
    CHECK(strlen(buf) == n);
    return buf;
}

static int error_contains(const char *needle) {
    char *m = last_error();
    int ok = strstr(m, needle) != NULL;
    if (!ok) {
        fprintf(stderr, "  last error \"%s\" lacks \"%s\"\n", m, needle);
    }
    free(m);
    return ok;
}

static int is_invalid(const imei_index_verdict *v) {
    return v->status == IMEI_INDEX_STATUS_INVALID && v->reason == 0 && v->rule == 0 &&
           v->check_digit_ok == 0 && v->date == 0;
}

static void scribble(imei_index_verdict *v) { memset(v, 0xab, sizeof *v); }

/* ---- expect.txt ---- */

typedef struct {
    char version[256];
    unsigned format_version;
    uint64_t serial, rules, file_bytes, distinct_entries;
    uint64_t counts[4][3];
    char *tampered_imei, *tampered_imsi;
    size_t tampered_imei_len, tampered_imsi_len;
} expectations;

static void read_expectations(const char *dir, expectations *e) {
    char *path = join(dir, "expect.txt");
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char key[64], value[256];
    memset(e, 0, sizeof *e);
    while (fscanf(f, "%63s %255s", key, value) == 2) {
        unsigned k, s;
        if (!strcmp(key, "version")) {
            snprintf(e->version, sizeof e->version, "%s", value);
        } else if (!strcmp(key, "format_version")) {
            e->format_version = (unsigned)strtoul(value, NULL, 10);
        } else if (!strcmp(key, "serial")) {
            e->serial = strtoull(value, NULL, 10);
        } else if (!strcmp(key, "rules")) {
            e->rules = strtoull(value, NULL, 10);
        } else if (!strcmp(key, "file_bytes")) {
            e->file_bytes = strtoull(value, NULL, 10);
        } else if (!strcmp(key, "distinct_entries")) {
            e->distinct_entries = strtoull(value, NULL, 10);
        } else if (sscanf(key, "count_%u_%u", &k, &s) == 2 && k >= 1 && k <= 4 && s <= 2) {
            e->counts[k - 1][s] = strtoull(value, NULL, 10);
        } else if (!strcmp(key, "tampered_imei")) {
            e->tampered_imei = unhex(value, &e->tampered_imei_len);
        } else if (!strcmp(key, "tampered_imsi")) {
            e->tampered_imsi = unhex(value, &e->tampered_imsi_len);
        }
    }
    fclose(f);
    free(path);
}

/* ---- probes.tsv ---- */

typedef struct {
    uint64_t imei14;
    char *text;
    size_t text_len;
    imei_index_verdict want;
} probe;

static probe *read_probes(const char *dir, size_t *count) {
    char *path = join(dir, "probes.tsv");
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    probe *p = xmalloc(cap * sizeof *p);
    uint64_t imei14;
    char text[64];
    unsigned s, r, k, d;
    while (fscanf(f, "%" SCNu64 " %63s %u %u %u %u", &imei14, text, &s, &r, &k, &d) == 6) {
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap * sizeof *p);
            if (!p) {
                exit(2);
            }
        }
        p[n].imei14 = imei14;
        p[n].text_len = strlen(text);
        p[n].text = xmalloc(p[n].text_len);
        memcpy(p[n].text, text, p[n].text_len);
        p[n].want.status = (uint8_t)s;
        p[n].want.reason = (uint8_t)r;
        p[n].want.rule = (uint8_t)k;
        p[n].want.check_digit_ok = 1;
        p[n].want.date = d;
        n++;
    }
    fclose(f);
    free(path);
    *count = n;
    return p;
}

static int same_verdict(const imei_index_verdict *a, const imei_index_verdict *b) {
    return a->status == b->status && a->reason == b->reason && a->rule == b->rule &&
           a->check_digit_ok == b->check_digit_ok && a->date == b->date;
}

/* ---- the tests ---- */

static void test_versions(const expectations *e) {
    CHECK(strcmp(imei_index_version(), e->version) == 0);
    CHECK(imei_index_format_version() == e->format_version);
}

static void test_result_text(void) {
    const char *seen[9];
    for (int code = IMEI_INDEX_RESULT_OK; code <= IMEI_INDEX_RESULT_OUT_OF_MEMORY; code++) {
        const char *t = imei_index_result_text(code);
        CHECK(t != NULL && strlen(t) > 0);
        CHECK(strcmp(t, "unknown result code") != 0);
        for (int j = 0; j < code; j++) {
            CHECK(strcmp(seen[j], t) != 0);
        }
        seen[code] = t;
    }
    CHECK(strcmp(imei_index_result_text(IMEI_INDEX_RESULT_INVALID_IMEI), "invalid IMEI") == 0);
    CHECK(strcmp(imei_index_result_text(-1), "unknown result code") == 0);
    CHECK(strcmp(imei_index_result_text(IMEI_INDEX_RESULT_OUT_OF_MEMORY), "out of memory") == 0);
    CHECK(strcmp(imei_index_result_text(9), "unknown result code") == 0);
}

/* A non-NULL value that a failed open must overwrite with NULL. */
static imei_index *stale(void) {
    static int dummy;
    return (imei_index *)(void *)&dummy;
}

static void expect_open_fails(const char *path, uint32_t flags, imei_index_result want,
                              const char *message) {
    imei_index *index = stale();
    CHECK(imei_index_open_with(path, flags, &index) == want);
    CHECK(index == NULL);
    CHECK(error_contains(message));
}

static void test_open(const char *dir) {
    char *good = join(dir, "index.imeiidx");
    char *missing = join(dir, "missing.imeiidx");
    char *empty = join(dir, "empty.imeiidx");
    char *foreign = join(dir, "foreign.imeiidx");
    char *corrupt = join(dir, "corrupt.imeiidx");
    imei_index *index = stale();

    CHECK(imei_index_open(NULL, &index) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(index == NULL);
    CHECK(error_contains("path is NULL"));
    CHECK(imei_index_open(good, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(error_contains("out is NULL"));
    CHECK(imei_index_open_trusted(NULL, &index) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_open_trusted(good, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);

    index = stale();
    CHECK(imei_index_open(missing, &index) == IMEI_INDEX_RESULT_IO);
    CHECK(index == NULL);
    CHECK(error_contains(missing));
    expect_open_fails(missing, IMEI_INDEX_OPEN_TRUSTED, IMEI_INDEX_RESULT_IO, "could not open");
    expect_open_fails(empty, 0, IMEI_INDEX_RESULT_CORRUPT_INDEX, "empty");
    expect_open_fails(foreign, 0, IMEI_INDEX_RESULT_CORRUPT_INDEX, foreign);
    expect_open_fails(foreign, IMEI_INDEX_OPEN_TRUSTED, IMEI_INDEX_RESULT_CORRUPT_INDEX, "index");
    expect_open_fails(corrupt, 0, IMEI_INDEX_RESULT_CORRUPT_INDEX, "checksum");
    expect_open_fails(corrupt, IMEI_INDEX_OPEN_VERIFY_FULL, IMEI_INDEX_RESULT_CORRUPT_INDEX,
                      "checksum");
    expect_open_fails(good, 1u << 20, IMEI_INDEX_RESULT_INVALID_ARGUMENT, "unknown open flags");
    expect_open_fails(good, IMEI_INDEX_OPEN_TRUSTED | IMEI_INDEX_OPEN_VERIFY_FULL,
                      IMEI_INDEX_RESULT_INVALID_ARGUMENT, "contradict");

    /* The trusted path checks the header only, so the corrupt body goes unnoticed. */
    CHECK(imei_index_open_trusted(corrupt, &index) == IMEI_INDEX_RESULT_OK);
    CHECK(index != NULL);
    imei_index_close(index);

    const uint32_t flag_sets[] = {
        0,
        IMEI_INDEX_OPEN_TRUSTED,
        IMEI_INDEX_OPEN_VERIFY_FULL,
        IMEI_INDEX_OPEN_POPULATE | IMEI_INDEX_OPEN_ADVISE_RANDOM,
        IMEI_INDEX_OPEN_TRUSTED | IMEI_INDEX_OPEN_POPULATE,
    };
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        index = NULL;
        CHECK(imei_index_open_with(good, flag_sets[i], &index) == IMEI_INDEX_RESULT_OK);
        CHECK(index != NULL);
        imei_index_verdict v;
        CHECK(imei_index_check_u64(index, 0, &v) == IMEI_INDEX_RESULT_OK);
        imei_index_close(index);
    }
    /* Locking may exceed RLIMIT_MEMLOCK: then it is an I/O error, never a crash. */
    index = NULL;
    imei_index_result locked = imei_index_open_with(good, IMEI_INDEX_OPEN_LOCK, &index);
    CHECK(locked == IMEI_INDEX_RESULT_OK || locked == IMEI_INDEX_RESULT_IO);
    CHECK((locked == IMEI_INDEX_RESULT_OK) == (index != NULL));
    imei_index_close(index);

    imei_index_close(NULL);
    free(good);
    free(missing);
    free(empty);
    free(foreign);
    free(corrupt);
}

/* Opens the index from a copy in memory, and frees the copy: the library copied it. */
static imei_index *open_from_memory(const char *dir) {
    char *path = join(dir, "index.imeiidx");
    size_t len;
    unsigned char *bytes = read_file(path, &len);
    imei_index *index = stale();

    CHECK(imei_index_open_bytes(NULL, len, &index) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(index == NULL);
    CHECK(error_contains("data is NULL"));
    CHECK(imei_index_open_bytes(NULL, 0, &index) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_open_bytes(bytes, len, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    index = stale();
    CHECK(imei_index_open_bytes(bytes, 0, &index) == IMEI_INDEX_RESULT_CORRUPT_INDEX);
    CHECK(index == NULL);
    CHECK(error_contains("empty"));
    CHECK(imei_index_open_bytes(bytes, len - 1, &index) == IMEI_INDEX_RESULT_CORRUPT_INDEX);
    CHECK(error_contains("is not a usable index"));
    CHECK(imei_index_open_bytes(bytes + 8, len - 8, &index) == IMEI_INDEX_RESULT_CORRUPT_INDEX);
    CHECK(imei_index_open_bytes(bytes, SIZE_MAX, &index) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(index == NULL);

    CHECK(imei_index_open_bytes(bytes, len, &index) == IMEI_INDEX_RESULT_OK);
    CHECK(index != NULL);
    memset(bytes, 0, len);
    free(bytes);
    free(path);
    return index;
}

/* Runs every line of cases.tsv through its function. */
static void test_cases(const imei_index *index, const char *dir) {
    char *path = join(dir, "cases.tsv");
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char func[32], imei_field[512], imsi_field[512];
    int rc;
    unsigned s, r, k, c, d;
    long lines = 0;
    while (fscanf(f, "%31s %511s %511s %d %u %u %u %u %u", func, imei_field, imsi_field, &rc, &s,
                  &r, &k, &c, &d) == 9) {
        lines++;
        size_t imei_len = 0, imsi_len = 0;
        char *imsi = unhex(imsi_field, &imsi_len);
        char *imei = NULL;
        imei_index_verdict v;
        scribble(&v);
        imei_index_result got;
        if (!strcmp(func, "u64")) {
            got = imei_index_check_u64(index, strtoull(imei_field, NULL, 10), &v);
        } else {
            imei = unhex(imei_field, &imei_len);
            if (!strcmp(func, "check")) {
                got = imei_index_check(index, imei, imei_len, &v);
            } else if (!strcmp(func, "lenient")) {
                got = imei_index_check_lenient(index, imei, imei_len, &v);
            } else if (!strcmp(func, "imsi")) {
                got = imei_index_check_with_imsi(index, imei, imei_len, imsi, imsi_len, &v);
            } else if (!strcmp(func, "imsi_lenient")) {
                got = imei_index_check_with_imsi_lenient(index, imei, imei_len, imsi, imsi_len,
                                                         &v);
            } else {
                fprintf(stderr, "unknown function %s in cases.tsv\n", func);
                exit(2);
            }
        }
        imei_index_verdict want = {(uint8_t)s, (uint8_t)r, (uint8_t)k, (uint8_t)c, d};
        int ok = (int)got == rc && same_verdict(&v, &want);
        if (!ok) {
            fprintf(stderr,
                    "  %s %s %s: got %d {%u %u %u %u %u}, want %d {%u %u %u %u %u}\n", func,
                    imei_field, imsi_field, (int)got, v.status, v.reason, v.rule,
                    v.check_digit_ok, v.date, rc, s, r, k, c, d);
        }
        CHECK(ok);
        if (got == IMEI_INDEX_RESULT_INVALID_IMEI) {
            CHECK(error_contains("IMEI"));
        } else if (got == IMEI_INDEX_RESULT_INVALID_IMSI) {
            CHECK(error_contains("invalid IMSI"));
        }
        free(imei);
        free(imsi);
    }
    CHECK(lines > 100);
    fclose(f);
    free(path);
}

static void test_null_and_odd_arguments(const imei_index *index) {
    imei_index_verdict v;
    const char *imei = "352099001761481";
    const char *imsi = "404685505601234";

    scribble(&v);
    CHECK(imei_index_check(NULL, imei, 15, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(is_invalid(&v));
    CHECK(error_contains("index is NULL"));
    CHECK(imei_index_check(index, NULL, 15, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(error_contains("imei is NULL"));
    CHECK(imei_index_check(index, NULL, 0, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check(index, imei, 15, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(error_contains("out is NULL"));
    CHECK(imei_index_check_lenient(NULL, imei, 15, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_lenient(index, NULL, 15, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_lenient(index, imei, 15, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_u64(NULL, 1, &v) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_u64(index, 1, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_with_imsi(NULL, imei, 15, imsi, 15, &v) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_with_imsi(index, NULL, 15, imsi, 15, &v) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    scribble(&v);
    CHECK(imei_index_check_with_imsi(index, imei, 15, NULL, 15, &v) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(is_invalid(&v));
    CHECK(error_contains("imsi is NULL"));
    CHECK(imei_index_check_with_imsi(index, imei, 15, imsi, 15, NULL) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_with_imsi_lenient(NULL, imei, 15, imsi, 15, &v) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_with_imsi_lenient(index, imei, 15, NULL, 0, &v) ==
          IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_with_imsi_lenient(index, imei, 15, imsi, 15, NULL) ==
          IMEI_INDEX_RESULT_NULL_POINTER);

    /* A length no buffer can have is refused before anything is read. */
    CHECK(imei_index_check(index, imei, SIZE_MAX, &v) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(error_contains("larger than any array"));
    CHECK(imei_index_check_with_imsi(index, imei, 15, imsi, SIZE_MAX, &v) ==
          IMEI_INDEX_RESULT_INVALID_ARGUMENT);

    /* Only `len` bytes count: what follows them (no NUL here) is never read. */
    const char run_on[] = {'3', '5', '2', '0', '9', '9', '0', '0', '1', '7', '6',
                           '1', '4', '8', '1', '9', '9', 'x'};
    imei_index_verdict whole, prefix;
    CHECK(imei_index_check(index, imei, 15, &whole) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_check(index, run_on, 15, &prefix) == IMEI_INDEX_RESULT_OK);
    CHECK(same_verdict(&whole, &prefix));
    CHECK(imei_index_check(index, run_on, sizeof run_on, &v) == IMEI_INDEX_RESULT_INVALID_IMEI);

    /* An embedded NUL is a character like any other, and not a digit. */
    CHECK(imei_index_check(index, "35209900\0" "1761481", 16, &v) ==
          IMEI_INDEX_RESULT_INVALID_IMEI);
    CHECK(error_contains("not a digit"));
}

static void test_check_many(const imei_index *index, const probe *probes, size_t n) {
    uint64_t *in = xmalloc(n * sizeof *in);
    imei_index_verdict *out = xmalloc(n * sizeof *out);
    size_t n_invalid = 12345;
    for (size_t i = 0; i < n; i++) {
        in[i] = probes[i].imei14;
    }
    memset(out, 0xab, n * sizeof *out);
    CHECK(imei_index_check_many(index, in, n, out, &n_invalid) == IMEI_INDEX_RESULT_OK);
    CHECK(n_invalid == 0);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        wrong += !same_verdict(&out[i], &probes[i].want);
    }
    CHECK(wrong == 0);

    /* Invalid elements are marked and counted; the others are still checked. */
    in[1] = 100000000000000ull;
    in[n - 1] = UINT64_MAX;
    memset(out, 0xab, n * sizeof *out);
    CHECK(imei_index_check_many(index, in, n, out, &n_invalid) == IMEI_INDEX_RESULT_INVALID_IMEI);
    CHECK(n_invalid == 2);
    CHECK(is_invalid(&out[1]) && is_invalid(&out[n - 1]));
    CHECK(error_contains("2 of"));
    CHECK(error_contains("index 1"));
    wrong = 0;
    for (size_t i = 0; i < n; i++) {
        if (i != 1 && i != n - 1) {
            wrong += !same_verdict(&out[i], &probes[i].want);
        }
    }
    CHECK(wrong == 0);
    CHECK(imei_index_check_many(index, in, n, out, NULL) == IMEI_INDEX_RESULT_INVALID_IMEI);

    CHECK(imei_index_check_many(index, NULL, 0, NULL, &n_invalid) == IMEI_INDEX_RESULT_OK);
    CHECK(n_invalid == 0);
    CHECK(imei_index_check_many(index, NULL, 3, out, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(error_contains("imei14 is NULL"));
    CHECK(imei_index_check_many(index, in, 3, NULL, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    memset(out, 0xab, 3 * sizeof *out);
    CHECK(imei_index_check_many(NULL, in, 3, out, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(is_invalid(&out[0]) && is_invalid(&out[2]));
    CHECK(imei_index_check_many(index, in, SIZE_MAX / 4, out, NULL) ==
          IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    /* A misaligned array is refused, not read. */
    const uint64_t *misaligned = (const uint64_t *)(const void *)((const char *)in + 1);
    CHECK(imei_index_check_many(index, misaligned, 1, out, NULL) ==
          IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(error_contains("aligned"));
    free(in);
    free(out);
}

static void test_stats(const imei_index *index, const expectations *e) {
    imei_index_statistics s;
    memset(&s, 0xab, sizeof s);
    CHECK(imei_index_stats(NULL, &s) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_stats(index, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_stats(index, &s) == IMEI_INDEX_RESULT_OK);
    CHECK(s.format_version == e->format_version);
    CHECK(s.serial == e->serial);
    CHECK(s.rules == e->rules);
    CHECK(s.file_bytes == e->file_bytes);
    CHECK(s.distinct_entries == e->distinct_entries);
    uint64_t sum = 0;
    for (int k = 0; k < 4; k++) {
        for (int st = 0; st < 3; st++) {
            CHECK(s.counts[k][st] == e->counts[k][st]);
            sum += s.counts[k][st];
        }
    }
    CHECK(sum == s.rules);
}

static void test_last_error(const imei_index *index) {
    imei_index_verdict v;
    CHECK(imei_index_check(index, "12", 2, &v) == IMEI_INDEX_RESULT_INVALID_IMEI);
    char *full = last_error();
    size_t n = strlen(full);
    CHECK(n > 10);
    CHECK(strstr(full, "invalid IMEI \"12\"") == full);
    CHECK(imei_index_last_error(NULL, 0) == n);
    CHECK(imei_index_last_error(NULL, 100) == n); /* NULL buffer: nothing written */

    char small[8];
    memset(small, 'z', sizeof small);
    CHECK(imei_index_last_error(small, sizeof small) == n);
    CHECK(small[7] == '\0' && strncmp(small, full, 7) == 0);
    char one = 'z';
    CHECK(imei_index_last_error(&one, 1) == n);
    CHECK(one == '\0');
    char untouched = 'z';
    CHECK(imei_index_last_error(&untouched, 0) == n);
    CHECK(untouched == 'z');

    /* Success leaves the message alone, as errno. */
    CHECK(imei_index_check_u64(index, 0, &v) == IMEI_INDEX_RESULT_OK);
    char *after = last_error();
    CHECK(strcmp(after, full) == 0);
    free(after);
    free(full);
}

/* A file corrupt in a way only checksums catch, opened trusted, may give wrong answers but
   never makes the library panic: every call answers, and the handle stays usable. */
static void test_tampered(const char *dir, const expectations *e, const probe *probes, size_t n) {
    char *path = join(dir, "tampered.imeiidx");
    imei_index *index = NULL;
    CHECK(imei_index_open(path, &index) == IMEI_INDEX_RESULT_CORRUPT_INDEX);
    CHECK(imei_index_open_trusted(path, &index) == IMEI_INDEX_RESULT_OK);
    imei_index_verdict v;
    scribble(&v);
    CHECK(imei_index_check_with_imsi(index, e->tampered_imei, e->tampered_imei_len,
                                     e->tampered_imsi, e->tampered_imsi_len,
                                     &v) == IMEI_INDEX_RESULT_OK);
    CHECK(strcmp(imei_index_result_text(IMEI_INDEX_RESULT_PANIC), "internal error (panic)") == 0);
    size_t other = 0;
    for (size_t i = 0; i < n; i++) {
        imei_index_result rc = imei_index_check_u64(index, probes[i].imei14, &v);
        other += rc != IMEI_INDEX_RESULT_OK;
        rc = imei_index_check_with_imsi(index, probes[i].text, probes[i].text_len,
                                        e->tampered_imsi, e->tampered_imsi_len, &v);
        other += rc != IMEI_INDEX_RESULT_OK;
    }
    CHECK(other == 0);
    imei_index_close(index);

    /* The same for the file with a corrupt IMEI section. */
    char *corrupt = join(dir, "corrupt.imeiidx");
    CHECK(imei_index_open_trusted(corrupt, &index) == IMEI_INDEX_RESULT_OK);
    other = 0;
    for (size_t i = 0; i < n; i++) {
        imei_index_result rc = imei_index_check(index, probes[i].text, probes[i].text_len, &v);
        other += rc != IMEI_INDEX_RESULT_OK;
    }
    CHECK(other == 0);
    imei_index_close(index);
    free(corrupt);
    free(path);
}

/* ---- threads ---- */

typedef struct {
    const imei_index *index;
    const probe *probes;
    size_t n;
    int id;
    long mismatches;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    imei_index_verdict v;
    /* This thread's own error first: other threads' errors must not replace it. */
    char mine[32];
    int mine_len = snprintf(mine, sizeof mine, "thread-%d", w->id);
    if (imei_index_check(w->index, mine, (size_t)mine_len, &v) != IMEI_INDEX_RESULT_INVALID_IMEI) {
        w->mismatches++;
    }
    imei_index_verdict *many = xmalloc(w->n * sizeof *many);
    uint64_t *in = xmalloc(w->n * sizeof *in);
    for (int round = 0; round < 2; round++) {
        for (size_t j = 0; j < w->n; j++) {
            /* Each thread walks the probes from its own starting point. */
            size_t i = (j + (size_t)w->id * 997) % w->n;
            const probe *p = &w->probes[i];
            in[i] = p->imei14;
            if (imei_index_check_u64(w->index, p->imei14, &v) != IMEI_INDEX_RESULT_OK ||
                !same_verdict(&v, &p->want)) {
                w->mismatches++;
            }
            if (imei_index_check(w->index, p->text, p->text_len, &v) != IMEI_INDEX_RESULT_OK ||
                !same_verdict(&v, &p->want)) {
                w->mismatches++;
            }
        }
        if (imei_index_check_many(w->index, in, w->n, many, NULL) != IMEI_INDEX_RESULT_OK) {
            w->mismatches++;
        }
        for (size_t i = 0; i < w->n; i++) {
            w->mismatches += !same_verdict(&many[i], &w->probes[i].want);
        }
    }
    char buf[64];
    imei_index_last_error(buf, sizeof buf);
    if (strstr(buf, mine) == NULL) {
        w->mismatches++;
    }
    free(many);
    free(in);
    return NULL;
}

static void test_threads(const imei_index *index, const probe *probes, size_t n) {
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){index, probes, n, t, 0};
        CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        if (workers[t].mismatches) {
            fprintf(stderr, "  thread %d: %ld mismatches\n", t, workers[t].mismatches);
        }
        CHECK(workers[t].mismatches == 0);
    }
}

/* An exact-length copy of a string, without its NUL. */
static char *exact(const char *s) {
    size_t n = strlen(s);
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* imei_index_check_at on dated.imeiidx (tests/capi_c.rs writes it): a notified handset
 * tracked until 2024-06-10 and blocked from it, with two reasons and its source; its
 * exception pair; a known reason; reasons longer than the field; days that are not. */
static void check_at_on(const imei_index *ix, const imei_index_live *live) {
    char *notified = exact("35209900176148");
    char *paired_sim = exact("404685505609999");
    char *stolen = exact("35417803685978");
    char *long_reasons = exact("49015420323751");
    char *unlisted = exact("86000002000015");
    char *not_imei = exact("3520990017614X");
    imei_index_verdict_text t;
#define AT(imei, imsi, imsi_len, y, m, d) \
    (ix ? imei_index_check_at(ix, imei, 14, imsi, imsi_len, y, m, d, &t) \
        : imei_index_live_check_at(live, imei, 14, imsi, imsi_len, y, m, d, &t))

    CHECK(AT(notified, NULL, 0, 2024, 6, 9) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_TRACKED && t.earlier == 1);
    CHECK(t.start == 19884 && t.verdict.date == 19884);
    CHECK(t.verdict.rule == IMEI_INDEX_RULE_IMEI && t.verdict.check_digit_ok == 1);
    CHECK(t.verdict.reason == IMEI_INDEX_REASON_OTHER);
    CHECK(strcmp(t.reasons, "Duplicate IMEI detected|not_registered") == 0);
    CHECK(t.reasons_len == strlen("Duplicate IMEI detected|not_registered"));
    CHECK(strcmp(t.source, "dirbs/notifications/op1") == 0);

    CHECK(AT(notified, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_BLOCKED && t.earlier == 0 && t.start == 19884);
    /* Today (0, 0, 0) is after 2024. */
    CHECK(AT(notified, NULL, 0, 0, 0, 0) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_BLOCKED);

    CHECK(AT(notified, paired_sim, 15, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_ALLOWED && t.verdict.rule == IMEI_INDEX_RULE_PAIR);
    CHECK(strcmp(t.source, "dirbs/exceptions/op1") == 0 && t.reasons[0] == 0 && t.reasons_len == 0);

    CHECK(AT(stolen, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.reason == IMEI_INDEX_REASON_STOLEN);
    CHECK(strcmp(t.reasons, "stolen") == 0 && strcmp(t.source, "local") == 0);

    /* Five reasons of 250 bytes: 1,254 joined, cut to fit with its NUL. */
    CHECK(AT(long_reasons, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(t.reasons_len == 1254);
    CHECK(strlen(t.reasons) == IMEI_INDEX_REASONS_BYTES - 1);

    CHECK(AT(unlisted, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_UNKNOWN && t.source[0] == 0 && t.reasons[0] == 0);

    /* Days that are not, and input that is not an IMEI or IMSI: refused, out invalid. */
    CHECK(AT(notified, NULL, 0, 2023, 2, 29) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_INVALID);
    CHECK(AT(notified, NULL, 0, 2024, 13, 1) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(AT(notified, NULL, 0, 1969, 12, 31) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(AT(notified, paired_sim, 3, 2024, 6, 10) == IMEI_INDEX_RESULT_INVALID_IMSI);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_INVALID);
    CHECK(AT(notified, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_OK);
    CHECK(AT(not_imei, NULL, 0, 2024, 6, 10) == IMEI_INDEX_RESULT_INVALID_IMEI);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_INVALID && t.source[0] == 0);
#undef AT
    free(notified);
    free(paired_sim);
    free(stolen);
    free(long_reasons);
    free(unlisted);
    free(not_imei);
}

static void test_check_at(const char *dir) {
    char *path = join(dir, "dated.imeiidx");
    imei_index *ix = NULL;
    CHECK(imei_index_open(path, &ix) == IMEI_INDEX_RESULT_OK);
    check_at_on(ix, NULL);
    imei_index_live *live = NULL;
    CHECK(imei_index_live_open(path, &live) == IMEI_INDEX_RESULT_OK);
    check_at_on(NULL, live);
    imei_index_verdict_text t;
    CHECK(imei_index_check_at(NULL, "x", 1, NULL, 0, 0, 0, 0, &t) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_INVALID);
    CHECK(imei_index_check_at(ix, NULL, 0, NULL, 0, 0, 0, 0, &t) == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_check_at(ix, "x", 1, NULL, 0, 0, 0, 0, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    imei_index_live_close(live);
    imei_index_close(ix);
    free(path);
}

/* GSMA's TAC database: the model of a TAC, and the TAC policy chosen at open. */
static void test_tac_db(const char *dir) {
    char *path = join(dir, "devices.imeiidx");
    imei_index_tac_policy policy = {IMEI_INDEX_STATUS_BLOCKED, 0, 0};
    imei_index *ix = NULL;
    CHECK(imei_index_open_with_tac_policy(path, 0, &policy, &ix) == IMEI_INDEX_RESULT_OK);
    imei_index_verdict_text t;
    const char *unallocated = "86000002000015";
    CHECK(imei_index_check_at(ix, unallocated, strlen(unallocated), NULL, 0, 2024, 6, 1, &t)
          == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_BLOCKED);
    CHECK(t.verdict.rule == IMEI_INDEX_RULE_TAC);
    CHECK(t.verdict.reason == IMEI_INDEX_REASON_COUNTERFEIT);
    CHECK(strcmp(t.reasons, "TAC not in the TAC database") == 0);
    CHECK(strcmp(t.source, "") == 0);
    /* An allocated TAC without a rule stays unknown; a listed handset keeps its rule. */
    const char *allocated = "35209900000000";
    CHECK(imei_index_check_at(ix, allocated, strlen(allocated), NULL, 0, 2024, 6, 1, &t)
          == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_UNKNOWN);
    const char *stolen = "35209900176148";
    CHECK(imei_index_check_at(ix, stolen, strlen(stolen), NULL, 0, 2024, 6, 1, &t)
          == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_BLOCKED && t.verdict.rule == IMEI_INDEX_RULE_IMEI);
    CHECK(t.verdict.reason == IMEI_INDEX_REASON_STOLEN);

    imei_index_device d;
    CHECK(imei_index_device_get(ix, 35209900, &d) == IMEI_INDEX_RESULT_OK);
    CHECK(d.found == 1 && d.tac == 35209900);
    CHECK(strcmp(d.model, "Galaxy S23") == 0 && strcmp(d.manufacturer, "Samsung Korea") == 0);
    CHECK(strcmp(d.brand, "Samsung") == 0 && strcmp(d.device_type, "Smartphone") == 0);
    CHECK(d.allocated == 19389 + 1); /* 2023-02-01 */
    CHECK(imei_index_device_get(ix, 86000002, &d) == IMEI_INDEX_RESULT_OK);
    CHECK(d.found == 0 && d.model[0] == 0);
    CHECK(imei_index_device_get(ix, 100000000, &d) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(d.found == 0);
    CHECK(imei_index_device_get(NULL, 35209900, &d) == IMEI_INDEX_RESULT_NULL_POINTER);

    /* The live handle keeps the policy. */
    imei_index_live *live = NULL;
    policy.status = IMEI_INDEX_STATUS_TRACKED;
    CHECK(imei_index_live_open_with_tac_policy(path, 0, &policy, &live) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_live_check_at(live, unallocated, strlen(unallocated), NULL, 0, 0, 0, 0, &t)
          == IMEI_INDEX_RESULT_OK);
    CHECK(t.verdict.status == IMEI_INDEX_STATUS_TRACKED);
    CHECK(imei_index_live_device_get(live, 35417803, &d) == IMEI_INDEX_RESULT_OK);
    CHECK(d.found == 1 && strcmp(d.model, "iPhone 15") == 0);

    /* A policy asked of an index without a TAC database is refused; no handle is written. */
    char *plain = join(dir, "index.imeiidx");
    imei_index *refused = (imei_index *)&policy;
    CHECK(imei_index_open_with_tac_policy(plain, 0, &policy, &refused)
          == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(refused == NULL);
    CHECK(error_contains("holds no TAC database"));
    /* NULL: no policy, as imei_index_open_with. */
    CHECK(imei_index_open_with_tac_policy(plain, 0, NULL, &refused) == IMEI_INDEX_RESULT_OK);
    imei_index_close(refused);
    imei_index_live_close(live);
    imei_index_close(ix);
    free(plain);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    expectations e;
    read_expectations(dir, &e);
    size_t n_probes;
    probe *probes = read_probes(dir, &n_probes);
    CHECK(n_probes > 100);

    test_versions(&e);
    test_result_text();
    test_open(dir);

    char *path = join(dir, "index.imeiidx");
    imei_index *mapped = NULL;
    CHECK(imei_index_open(path, &mapped) == IMEI_INDEX_RESULT_OK);
    imei_index *copied = open_from_memory(dir);
    const imei_index *handles[] = {mapped, copied};
    for (int h = 0; h < 2; h++) {
        test_cases(handles[h], dir);
        test_null_and_odd_arguments(handles[h]);
        test_check_many(handles[h], probes, n_probes);
        test_stats(handles[h], &e);
    }
    test_last_error(mapped);
    test_threads(mapped, probes, n_probes);
    test_tampered(dir, &e, probes, n_probes);
    test_check_at(dir);
    test_tac_db(dir);
    imei_index_close(mapped);
    imei_index_close(copied);

    for (size_t i = 0; i < n_probes; i++) {
        free(probes[i].text);
    }
    free(probes);
    free(e.tampered_imei);
    free(e.tampered_imsi);
    free(path);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
