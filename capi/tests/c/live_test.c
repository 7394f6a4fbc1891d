/*
 * The live handle from C: reader threads check continuously through one imei_index_live
 * while the main thread publishes versions by write-and-rename, good and corrupt, and
 * reloads. Built and run by tests/capi_c.rs, which writes into the directory given as
 * argument:
 *
 *   current.imeiidx   version 0, published     v<k>.imeiidx     version k (serial k)
 *   corrupt.imeiidx   a bit flipped            foreign.imeiidx  not an index
 *   live_probes.tsv   "versions V probes N", then per probe its 14 digits and, for each
 *                     version, status reason rule date; the first probe is the marker,
 *                     whose date is its version + 1
 *
 * Every answer must be one that some version gives; a batch checked with check_many must
 * come from one version; versions never go back. Prints "N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imei_index.h"
#include "check.h"

#define THREADS 4
#define BATCH 16


/* ---- the probes and their answers in every version ---- */

static size_t n_versions, n_probes;
static uint64_t *probes;
/* expected[(p * n_versions + k) * 4 + field]: status, reason, rule, date */
static uint32_t *expected;

static void load_probes(const char *dir) {
    char *path = join(dir, "live_probes.tsv");
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "versions %zu probes %zu", &n_versions, &n_probes) != 2) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    probes = xmalloc(n_probes * sizeof *probes);
    expected = xmalloc(n_probes * n_versions * 4 * sizeof *expected);
    for (size_t p = 0; p < n_probes; p++) {
        if (fscanf(f, "%" SCNu64, &probes[p]) != 1) {
            exit(2);
        }
        for (size_t i = 0; i < n_versions * 4; i++) {
            if (fscanf(f, "%" SCNu32, &expected[p * n_versions * 4 + i]) != 1) {
                exit(2);
            }
        }
    }
    fclose(f);
    free(path);
}

static int is(const imei_index_verdict *v, size_t p, size_t k) {
    const uint32_t *e = &expected[(p * n_versions + k) * 4];
    return v->status == e[0] && v->reason == e[1] && v->rule == e[2] && v->date == e[3] &&
           v->check_digit_ok == 1;
}

/* The version whose answer this is, or -1 when no version gives it. */
static long version_of(const imei_index_verdict *v, size_t p) {
    for (size_t k = 0; k < n_versions; k++) {
        if (is(v, p, k)) {
            return (long)k;
        }
    }
    return -1;
}

/* ---- readers ---- */

static atomic_int stop;

struct reader {
    const imei_index_live *live;
    pthread_t thread;
    long checks, wrong, errors, went_back, mixed_batches;
};

static void *read_loop(void *arg) {
    struct reader *r = arg;
    long seen = 0;
    size_t p = 0;
    uint64_t batch[BATCH];
    imei_index_verdict verdicts[BATCH];
    while (!atomic_load(&stop)) {
        imei_index_verdict v;
        p = (p + 1) % n_probes;
        if (imei_index_live_check_u64(r->live, probes[p], &v) != IMEI_INDEX_RESULT_OK) {
            r->errors++;
        } else if (version_of(&v, p) < 0) {
            r->wrong++;
        }
        r->checks++;
        /* The marker's answer names its version: it must never go back. */
        if (imei_index_live_check_u64(r->live, probes[0], &v) != IMEI_INDEX_RESULT_OK) {
            r->errors++;
        } else {
            long k = (long)v.date - 1;
            if (k < seen) {
                r->went_back++;
            }
            seen = k;
        }
        /* A batch comes from one version: the marker's, checked first. */
        if (r->checks % 7 == 0) {
            batch[0] = probes[0];
            for (size_t i = 1; i < BATCH; i++) {
                batch[i] = probes[(p + i * 13) % n_probes];
            }
            size_t n_invalid = 99;
            if (imei_index_live_check_many(r->live, batch, BATCH, verdicts, &n_invalid) !=
                    IMEI_INDEX_RESULT_OK ||
                n_invalid != 0) {
                r->errors++;
                continue;
            }
            size_t k = verdicts[0].date - 1;
            for (size_t i = 1; i < BATCH; i++) {
                if (!is(&verdicts[i], (p + i * 13) % n_probes, k)) {
                    r->mixed_batches++;
                    break;
                }
            }
        }
    }
    return NULL;
}

/* ---- the publisher ---- */

static void sleep_ms(long ms) {
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

/* Copies `source` beside `target`, then renames it over `target`: a publish that does not
   verify, as a careless publisher might do it. */
static void rename_into_place(const char *source, const char *target) {
    size_t n = strlen(target) + 5;
    char *temp = xmalloc(n);
    snprintf(temp, n, "%s.new", target);
    FILE *in = fopen(source, "rb");
    FILE *out = fopen(temp, "wb");
    if (!in || !out) {
        perror(source);
        exit(2);
    }
    char buf[1 << 14];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, got, out) != got) {
            perror(temp);
            exit(2);
        }
    }
    fclose(in);
    if (fclose(out) != 0 || rename(temp, target) != 0) {
        perror(temp);
        exit(2);
    }
    free(temp);
}

static uint64_t serving(const imei_index_live *live) {
    imei_index_statistics s;
    CHECK(imei_index_live_stats(live, &s) == IMEI_INDEX_RESULT_OK);
    return s.serial;
}

static int error_contains(const char *needle) {
    char msg[512];
    imei_index_last_error(msg, sizeof msg);
    int ok = strstr(msg, needle) != NULL;
    if (!ok) {
        fprintf(stderr, "  last error \"%s\" lacks \"%s\"\n", msg, needle);
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE-DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    load_probes(dir);
    char *target = join(dir, "current.imeiidx");
    char *corrupt = join(dir, "corrupt.imeiidx");
    char *foreign = join(dir, "foreign.imeiidx");

    /* Bad arguments. */
    imei_index_live *bad = (imei_index_live *)1;
    CHECK(imei_index_live_open(NULL, &bad) == IMEI_INDEX_RESULT_NULL_POINTER && bad == NULL);
    CHECK(imei_index_live_open(target, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    bad = (imei_index_live *)1;
    CHECK(imei_index_live_open(foreign, &bad) == IMEI_INDEX_RESULT_CORRUPT_INDEX && bad == NULL);
    CHECK(imei_index_live_open_with(target, 1u << 20, &bad) ==
              IMEI_INDEX_RESULT_INVALID_ARGUMENT &&
          bad == NULL);
    CHECK(imei_index_live_reload(NULL, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    imei_index_verdict v;
    CHECK(imei_index_live_check_u64(NULL, probes[0], &v) == IMEI_INDEX_RESULT_NULL_POINTER &&
          v.status == IMEI_INDEX_STATUS_INVALID);
    imei_index_live_close(NULL);

    imei_index_live *live = NULL;
    CHECK(imei_index_live_open(target, &live) == IMEI_INDEX_RESULT_OK && live != NULL);
    if (!live) {
        return 1;
    }
    CHECK(serving(live) == 0);
    imei_index_reload r;
    CHECK(imei_index_live_reload_if_changed(live, &r) == IMEI_INDEX_RESULT_OK &&
          r.reloaded == 0 && r.old_serial == 0 && r.new_serial == 0);
    /* The text forms answer as the number does. */
    char text[32];
    int len = snprintf(text, sizeof text, "%014" PRIu64, probes[0]);
    CHECK(imei_index_live_check(live, text, (size_t)len, &v) == IMEI_INDEX_RESULT_OK &&
          is(&v, 0, 0));
    CHECK(imei_index_live_check_lenient(live, text, (size_t)len, &v) == IMEI_INDEX_RESULT_OK &&
          is(&v, 0, 0));
    CHECK(imei_index_live_check_with_imsi(live, text, (size_t)len, "404685505601234", 15, &v) ==
              IMEI_INDEX_RESULT_OK &&
          is(&v, 0, 0));
    CHECK(imei_index_live_check(live, "12345", 5, &v) == IMEI_INDEX_RESULT_INVALID_IMEI &&
          v.status == IMEI_INDEX_STATUS_INVALID);

    struct reader readers[THREADS];
    memset(readers, 0, sizeof readers);
    for (int t = 0; t < THREADS; t++) {
        readers[t].live = live;
        if (pthread_create(&readers[t].thread, NULL, read_loop, &readers[t]) != 0) {
            perror("pthread_create");
            return 2;
        }
    }

    for (size_t k = 1; k < n_versions; k++) {
        /* Corrupt and foreign files are refused; the old index keeps serving. */
        rename_into_place(k % 2 ? corrupt : foreign, target);
        CHECK(imei_index_live_reload(live, &r) == IMEI_INDEX_RESULT_CORRUPT_INDEX);
        CHECK(error_contains("current.imeiidx"));
        CHECK(r.reloaded == 0 && r.old_serial == k - 1 && r.new_serial == k - 1);
        /* A refused file is reported once, not at every poll. */
        CHECK(imei_index_live_reload_if_changed(live, &r) == IMEI_INDEX_RESULT_OK &&
              r.reloaded == 0);
        CHECK(serving(live) == k - 1);
        unlink(target);
        CHECK(imei_index_live_reload(live, NULL) == IMEI_INDEX_RESULT_IO);
        sleep_ms(2);

        char name[32];
        snprintf(name, sizeof name, "v%zu.imeiidx", k);
        char *next = join(dir, name);
        rename_into_place(next, target);
        free(next);
        CHECK(imei_index_live_reload_if_changed(live, &r) == IMEI_INDEX_RESULT_OK);
        CHECK(r.reloaded == 1 && r.old_serial == k - 1 && r.new_serial == k && r.new_rules > 0);
        CHECK(imei_index_live_reload_if_changed(live, &r) == IMEI_INDEX_RESULT_OK &&
              r.reloaded == 0 && r.new_serial == k);
        CHECK(serving(live) == k);
        sleep_ms(3);
    }
    /* An explicit reload of an unchanged file swaps in the same version again. */
    CHECK(imei_index_live_reload(live, &r) == IMEI_INDEX_RESULT_OK && r.reloaded == 1 &&
          r.old_serial == n_versions - 1 && r.new_serial == n_versions - 1);

    atomic_store(&stop, 1);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(readers[t].thread, NULL);
        struct reader *rd = &readers[t];
        if (rd->wrong || rd->errors || rd->went_back || rd->mixed_batches) {
            fprintf(stderr,
                    "reader %d: %ld checks, %ld wrong, %ld errors, %ld went back, %ld mixed\n",
                    t, rd->checks, rd->wrong, rd->errors, rd->went_back, rd->mixed_batches);
        }
        CHECK(rd->checks > 0);
        CHECK(rd->wrong == 0 && rd->errors == 0);
        CHECK(rd->went_back == 0 && rd->mixed_batches == 0);
    }
    imei_index_live_close(live);
    free(target);
    free(corrupt);
    free(foreign);
    free(probes);
    free(expected);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed > 0;
}
