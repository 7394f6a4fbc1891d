/*
 * check_imeis: reads IMEIs from standard input, one per line, and prints what an index
 * says about each. A line may add an IMSI after a comma ("IMEI,IMSI") to check the pair.
 *
 *     $ ./check_imeis national.imeiidx < imeis.txt
 *     354178036859789	blocked	stolen	imei	2024-05-21
 *     490154203237518	unknown	-	-	-
 *     12345	error	invalid IMEI "12345": the IMEI has 5 digits: expected 14 or 15 ...
 *
 * Output columns, tab-separated: the input line, status (allowed, blocked, tracked,
 * unknown), reason, the kind of rule that matched, and its date. Wrong check digits are
 * accepted (as counterfeit handsets carry them) and flagged in a sixth column.
 *
 * Build against an installed libimei_index (docs/c-api.md):
 *     cargo cinstall -p imei-index-capi --release --prefix "$P" --libdir "$P/lib"
 *     export PKG_CONFIG_PATH="$P/lib/pkgconfig"
 *     cc -O2 -Wall capi/examples/c/check_imeis.c $(pkg-config --cflags --libs imei_index) \
 *        -o check_imeis
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_index.h"

static const char *status_name(uint8_t status) {
    switch (status) {
    case IMEI_INDEX_STATUS_ALLOWED: return "allowed";
    case IMEI_INDEX_STATUS_BLOCKED: return "blocked";
    case IMEI_INDEX_STATUS_TRACKED: return "tracked";
    default: return "unknown";
    }
}

static const char *reason_name(uint8_t reason) {
    static const char *const names[] = {"-",           "stolen",    "lost", "fraud",
                                        "counterfeit", "duplicate", "other"};
    return reason < sizeof names / sizeof names[0] ? names[reason] : "?";
}

static const char *rule_name(uint8_t rule) {
    static const char *const names[] = {"-", "pair", "imei", "range", "tac"};
    return rule < sizeof names / sizeof names[0] ? names[rule] : "?";
}

/* Days since 1970-01-01 as YYYY-MM-DD; "-" when the rule has no date. */
static void format_date(uint32_t days, char *buf, size_t len) {
    if (days == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
}

static void print_last_error(const char *prefix) {
    char message[512];
    imei_index_last_error(message, sizeof message);
    printf("%s\terror\t%s\n", prefix, message);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s INDEX < IMEIS\n", argv[0]);
        return 2;
    }
    imei_index *index;
    if (imei_index_open(argv[1], &index) != IMEI_INDEX_RESULT_OK) {
        char message[512];
        imei_index_last_error(message, sizeof message);
        fprintf(stderr, "check_imeis: %s\n", message);
        return 1;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        imei_index_verdict v;
        imei_index_result rc;
        const char *comma = memchr(line, ',', (size_t)n);
        if (comma) {
            size_t imei_len = (size_t)(comma - line);
            rc = imei_index_check_with_imsi_lenient(index, line, imei_len, comma + 1,
                                                    (size_t)n - imei_len - 1, &v);
        } else {
            rc = imei_index_check_lenient(index, line, (size_t)n, &v);
        }
        if (rc != IMEI_INDEX_RESULT_OK) {
            print_last_error(line);
            continue;
        }
        char date[16];
        format_date(v.date, date, sizeof date);
        printf("%s\t%s\t%s\t%s\t%s%s\n", line, status_name(v.status), reason_name(v.reason),
               rule_name(v.rule), date, v.check_digit_ok ? "" : "\twrong-check-digit");
    }
    free(line);
    imei_index_close(index);
    return 0;
}
