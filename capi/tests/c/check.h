/*
 * What the C test programs share: a check that counts instead of aborting, and the two
 * allocation helpers they use. Header-only; each program includes it once.
 */
#ifndef IMEI_INDEX_TEST_CHECK_H
#define IMEI_INDEX_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long passed, failed;

/* Counts a check; on failure says where, and goes on with the next check. */
#define CHECK(cond) check_that((cond), #cond, __FILE__, __LINE__)

static void check_that(int ok, const char *what, const char *file, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    return p;
}

/* dir/name, allocated. */
static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

#endif
