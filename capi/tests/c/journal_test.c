/*
 * The sightings journal from C: options, recording checks with their IMSI and MSISDN,
 * the policy, alerts through a callback, a full queue that drops and counts, four threads
 * recording through one journal, keyed hashing, and every error path. Built and run by
 * tests/capi_c.rs, which writes journal.imeiidx into the directory given as argument
 * (354178036859789 blocked, TAC 86990000 tracked) and afterwards reads the journals this
 * program leaves in DIR/journal, DIR/hashed and DIR/full. Prints "queued N" lines for
 * those checks, then "N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imei_index.h"
#include "check.h"

#define S(x) (x), strlen(x)

static atomic_int alerts;
static char last_alert_imei[32];
static char last_alert_imsi[80];

static void on_alert(void *context, const imei_index_journal_alert *a) {
    atomic_int *count = context;
    atomic_fetch_add(count, 1);
    snprintf(last_alert_imei, sizeof last_alert_imei, "%s", a->imei);
    snprintf(last_alert_imsi, sizeof last_alert_imsi, "%s", a->imsi ? a->imsi : "(none)");
}

static imei_index *index_;

static imei_index_verdict check(const char *imei) {
    imei_index_verdict v;
    CHECK(imei_index_check_lenient(index_, S(imei), &v) == IMEI_INDEX_RESULT_OK);
    return v;
}

static uint8_t record(imei_index_journal *j, const char *imei, const char *imsi,
                      const char *msisdn, int64_t ms) {
    imei_index_verdict v = check(imei);
    uint8_t outcome = 255;
    CHECK(imei_index_journal_record(j, S(imei), imsi, imsi ? strlen(imsi) : 0, msisdn,
                                    msisdn ? strlen(msisdn) : 0, &v, ms, &outcome)
          == IMEI_INDEX_RESULT_OK);
    return outcome;
}

static void basics(const char *dir) {
    char *path = join(dir, "journal");
    imei_index_journal_options *o = NULL;
    CHECK(imei_index_journal_options_new(&o) == IMEI_INDEX_RESULT_OK && o != NULL);
    CHECK(imei_index_journal_options_set_policy(o, IMEI_INDEX_JOURNAL_RECORD_ALL) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_policy(o, 0) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(imei_index_journal_options_set_policy(o, 1u << 7) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(imei_index_journal_options_set_flush_interval_ms(o, 20) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_queue_capacity(o, 1024) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_retention_days(o, 30) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_alert_callback(o, on_alert, &alerts) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_key(o, (const uint8_t *)"", 0) == IMEI_INDEX_RESULT_INVALID_ARGUMENT);

    imei_index_journal *j = NULL;
    CHECK(imei_index_journal_open(path, o, &j) == IMEI_INDEX_RESULT_OK && j != NULL);
    imei_index_journal_options_free(o);

    /* 2024-05-21T10:15:30.123Z */
    int64_t t = 1716286530123;
    CHECK(record(j, "354178036859789", "404685505601234", "919876543210", t) == IMEI_INDEX_JOURNAL_QUEUED);
    CHECK(record(j, "35-417803-685978-9", "404685505601234", NULL, t + 1) == IMEI_INDEX_JOURNAL_QUEUED);
    CHECK(record(j, "imei-869900001234567", NULL, "msisdn-919876543211", t + 2) == IMEI_INDEX_JOURNAL_QUEUED);
    CHECK(record(j, "490154203237518", "404685505601236", NULL, t + 3) == IMEI_INDEX_JOURNAL_QUEUED);

    /* Errors: nothing recorded. */
    imei_index_verdict v = check("354178036859789");
    uint8_t outcome = 77;
    CHECK(imei_index_journal_record(j, S("35417803685978X"), NULL, 0, NULL, 0, &v, 0, &outcome)
          == IMEI_INDEX_RESULT_INVALID_IMEI);
    CHECK(outcome == 77);
    CHECK(imei_index_journal_record(j, S("354178036859789"), S("4046"), NULL, 0, &v, 0, NULL)
          == IMEI_INDEX_RESULT_INVALID_IMSI);
    CHECK(imei_index_journal_record(j, S("354178036859789"), NULL, 0, S("12x45"), &v, 0, NULL)
          == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    CHECK(imei_index_journal_record(NULL, S("354178036859789"), NULL, 0, NULL, 0, &v, 0, NULL)
          == IMEI_INDEX_RESULT_NULL_POINTER);
    CHECK(imei_index_journal_record(j, S("354178036859789"), NULL, 0, NULL, 0, NULL, 0, NULL)
          == IMEI_INDEX_RESULT_NULL_POINTER);
    imei_index_verdict bad = v;
    bad.status = 9;
    CHECK(imei_index_journal_record(j, S("354178036859789"), NULL, 0, NULL, 0, &bad, 0, NULL)
          == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    bad = v;
    bad.status = IMEI_INDEX_STATUS_INVALID;
    CHECK(imei_index_journal_record(j, S("354178036859789"), NULL, 0, NULL, 0, &bad, 0, NULL)
          == IMEI_INDEX_RESULT_INVALID_ARGUMENT);
    char message[256];
    CHECK(imei_index_last_error(message, sizeof message) > 0);
    CHECK(strstr(message, "status 255") != NULL);

    CHECK(imei_index_journal_flush(j) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_flush(NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    imei_index_journal_statistics st;
    CHECK(imei_index_journal_stats(j, &st) == IMEI_INDEX_RESULT_OK);
    CHECK(st.queued == 4 && st.written == 4 && st.dropped == 0 && st.lost == 0);
    /* The blocked handset with one SIM (twice: one alert), the tracked TAC without one. */
    CHECK(st.alerts == 2);
    CHECK(atomic_load(&alerts) == 2);
    CHECK(strcmp(last_alert_imei, "86990000123456") == 0);
    CHECK(strcmp(last_alert_imsi, "(none)") == 0);
    CHECK(imei_index_journal_stats(j, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    imei_index_journal_close(j);
    imei_index_journal_close(NULL);
    imei_index_journal_options_free(NULL);

    /* The default policy (NULL options) skips unknown equipment. */
    j = NULL;
    CHECK(imei_index_journal_open(path, NULL, &j) == IMEI_INDEX_RESULT_OK);
    CHECK(record(j, "490154203237518", NULL, NULL, t) == IMEI_INDEX_JOURNAL_SKIPPED);
    CHECK(record(j, "354178036859789", "404685505601299", NULL, t + 10) == IMEI_INDEX_JOURNAL_QUEUED);
    imei_index_journal_close(j);

    /* Opening errors. */
    j = (imei_index_journal *)&j;
    CHECK(imei_index_journal_open(NULL, NULL, &j) == IMEI_INDEX_RESULT_NULL_POINTER && j == NULL);
    CHECK(imei_index_journal_open(path, NULL, NULL) == IMEI_INDEX_RESULT_NULL_POINTER);
    char *under_a_file = join(dir, "journal.imeiidx/sub");
    CHECK(imei_index_journal_open(under_a_file, NULL, &j) == IMEI_INDEX_RESULT_IO && j == NULL);
    free(under_a_file);
    free(path);
}

static void hashed(const char *dir) {
    char *path = join(dir, "hashed");
    imei_index_journal_options *o = NULL;
    CHECK(imei_index_journal_options_new(&o) == IMEI_INDEX_RESULT_OK);
    const char *key = "operator secret";
    CHECK(imei_index_journal_options_set_key(o, (const uint8_t *)key, strlen(key)) == IMEI_INDEX_RESULT_OK);
    imei_index_journal *j = NULL;
    CHECK(imei_index_journal_open(path, o, &j) == IMEI_INDEX_RESULT_OK);
    imei_index_journal_options_free(o);
    CHECK(record(j, "354178036859789", "404685505601234", "919876543210", 1716286530123) == IMEI_INDEX_JOURNAL_QUEUED);
    imei_index_journal_close(j);
    free(path);
}

static void full_queue(const char *dir, long n) {
    char *path = join(dir, "full");
    imei_index_journal_options *o = NULL;
    CHECK(imei_index_journal_options_new(&o) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_queue_capacity(o, 4) == IMEI_INDEX_RESULT_OK);
    CHECK(imei_index_journal_options_set_flush_interval_ms(o, 3600000) == IMEI_INDEX_RESULT_OK);
    imei_index_journal *j = NULL;
    CHECK(imei_index_journal_open(path, o, &j) == IMEI_INDEX_RESULT_OK);
    imei_index_journal_options_free(o);
    long queued = 0, dropped = 0;
    for (long i = 0; i < n; i++) {
        uint8_t r = record(j, "354178036859789", "404685505601234", NULL, 0);
        queued += r == IMEI_INDEX_JOURNAL_QUEUED;
        dropped += r == IMEI_INDEX_JOURNAL_DROPPED;
    }
    imei_index_journal_statistics st;
    CHECK(imei_index_journal_stats(j, &st) == IMEI_INDEX_RESULT_OK);
    CHECK(dropped > 0);
    CHECK((long)st.dropped == dropped && (long)st.queued == queued);
    imei_index_journal_close(j);
    printf("queued full %ld\n", queued);
    free(path);
}

struct worker {
    imei_index_journal *journal;
    long n, queued;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (long i = 0; i < w->n; i++) {
        w->queued += record(w->journal, i % 2 ? "354178036859789" : "869900001234567",
                            "404685505601234", NULL, 0) == IMEI_INDEX_JOURNAL_QUEUED;
    }
    return NULL;
}

static void threads(const char *dir, long n) {
    char *path = join(dir, "threads");
    imei_index_journal *j = NULL;
    CHECK(imei_index_journal_open(path, NULL, &j) == IMEI_INDEX_RESULT_OK);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){j, n, 0};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    long queued = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        queued += w[i].queued;
    }
    imei_index_journal_statistics st;
    CHECK(imei_index_journal_stats(j, &st) == IMEI_INDEX_RESULT_OK);
    CHECK((long)(st.queued + st.dropped) == 4 * n);
    CHECK((long)st.queued == queued);
    imei_index_journal_close(j);
    printf("queued threads %ld\n", queued);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: journal_test DIR N\n");
        return 2;
    }
    char *idx = join(argv[1], "journal.imeiidx");
    CHECK(imei_index_open(idx, &index_) == IMEI_INDEX_RESULT_OK);
    free(idx);
    long n = atol(argv[2]);
    basics(argv[1]);
    hashed(argv[1]);
    full_queue(argv[1], n * 4);
    threads(argv[1], n);
    imei_index_close(index_);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
