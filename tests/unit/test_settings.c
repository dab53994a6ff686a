/* The settings table (include/base/rf_settings.h): every variable the
 * library reads is declared with its type and default; unset or empty
 * gives the default; a malformed value is REFIT_ERR_INVALID_ARG naming the
 * variable, the value and what it takes; `refit env` lists them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_settings.h"

#include "check.h"

/* The variables the library reads: each must be in the table. */
static const char *const wanted[] = {"REFIT_LOG",       "REFIT_LOG_SUBSYS",   "REFIT_FAULT",       "REFIT_NODE_ID",
                                     "REFIT_XFER_TOPO", "REFIT_PACK_THREADS", "REFIT_BLOCK_KERNEL",
                                     "REFIT_LOG_FILE"};

static void test_table(void) {
    for (size_t w = 0; w < sizeof wanted / sizeof wanted[0]; w++) {
        int found = 0;
        for (int i = 0; i < RF_SET_COUNT; i++) found += !strcmp(rf_setting_def((rf_setting_id_t)i)->name, wanted[w]);
        CHECK(found == 1, "%s declared %d times", wanted[w], found);
    }
    for (int i = 0; i < RF_SET_COUNT; i++) {
        const rf_setting_def_t *d = rf_setting_def((rf_setting_id_t)i);
        CHECK(d->doc && *d->doc && d->def, "%s: no doc or default", d->name);
        CHECK((d->type == RF_SETTING_CHOICE || d->type == RF_SETTING_LIST) == (d->choices != NULL), "%s: choices",
              d->name);
        unsetenv(d->name);
    }
    CHECK(rf_setting_def(RF_SET_COUNT) == NULL, "a setting past the table");
}

static void test_int(void) {
    long n = -1;
    CHECK(rf_setting_int(RF_SET_PACK_THREADS, &n) == REFIT_OK && n == 0, "default: %ld", n);
    setenv("REFIT_PACK_THREADS", "", 1);
    CHECK(rf_setting_int(RF_SET_PACK_THREADS, &n) == REFIT_OK && n == 0, "empty = default: %ld", n);
    setenv("REFIT_PACK_THREADS", "12", 1);
    CHECK(rf_setting_int(RF_SET_PACK_THREADS, &n) == REFIT_OK && n == 12, "12: %ld", n);
    const char *bad[] = {"twelve", "12x", "-1", "1025", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("REFIT_PACK_THREADS", bad[i], 1);
        rf_err_clear();
        n = 77;
        CHECK(rf_setting_int(RF_SET_PACK_THREADS, &n) == REFIT_ERR_INVALID_ARG && n == 77, "'%s' accepted", bad[i]);
        char want[80];
        snprintf(want, sizeof want, "REFIT_PACK_THREADS: '%s' is not an integer in [0, 1024]", bad[i]);
        CHECK(strstr(rf_err_msg(), want), "'%s': message '%s'", bad[i], rf_err_msg());
        rf_err_clear();
        CHECK(rf_settings_check() == REFIT_ERR_INVALID_ARG && strstr(rf_err_msg(), "REFIT_PACK_THREADS"),
              "check passed '%s'", bad[i]);
    }
    unsetenv("REFIT_PACK_THREADS");
    CHECK(rf_setting_choice(RF_SET_PACK_THREADS, NULL) == REFIT_ERR_INTERNAL, "an int read as a choice");
}

static void test_choice(void) {
    int c = -1;
    CHECK(rf_setting_choice(RF_SET_XFER_TOPO, &c) == REFIT_OK && c == 0, "default node: %d", c);
    setenv("REFIT_XFER_TOPO", "flat", 1);
    CHECK(rf_setting_choice(RF_SET_XFER_TOPO, &c) == REFIT_OK && c == 1, "flat: %d", c);
    setenv("REFIT_XFER_TOPO", "fla", 1);
    rf_err_clear();
    CHECK(rf_setting_choice(RF_SET_XFER_TOPO, &c) == REFIT_ERR_INVALID_ARG, "'fla' accepted");
    CHECK(strstr(rf_err_msg(), "REFIT_XFER_TOPO: 'fla' is not one of node, flat"), "message '%s'", rf_err_msg());
    unsetenv("REFIT_XFER_TOPO");
    setenv("REFIT_LOG", "loud", 1); /* the log cannot fail: it takes the default */
    CHECK(rf_setting_choice_or_default(RF_SET_LOG) == 1, "malformed REFIT_LOG: %d", rf_setting_choice_or_default(RF_SET_LOG));
    setenv("REFIT_LOG", "debug", 1);
    CHECK(rf_setting_choice_or_default(RF_SET_LOG) == 3, "debug");
    unsetenv("REFIT_LOG");
    setenv("REFIT_LOG_SUBSYS", "snap,comm", 1); /* a list: every word one of the choices */
    rf_err_clear();
    CHECK(rf_settings_check() == REFIT_OK, "snap,comm refused: %s", rf_err_msg());
    setenv("REFIT_LOG_SUBSYS", "snap,bogus", 1);
    CHECK(rf_settings_check() == REFIT_ERR_INVALID_ARG &&
              strstr(rf_err_msg(), "REFIT_LOG_SUBSYS: 'bogus' is not one of all, snap, io, comm"),
          "message '%s'", rf_err_msg());
    unsetenv("REFIT_LOG_SUBSYS");
    const char *v = NULL;
    CHECK(rf_setting_str(RF_SET_BLOCK_KERNEL, &v) == REFIT_OK && !strcmp(v, "pdl"), "block kernel default %s", v);
}

static void test_check_and_print(void) {
    rf_err_clear();
    CHECK(rf_settings_check() == REFIT_OK, "clean environment: %s", rf_err_msg());
    setenv("REFIT_NODE_ID", "rack7", 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rf_settings_print(f);
    fclose(f);
    for (size_t w = 0; w < sizeof wanted / sizeof wanted[0]; w++)
        CHECK(strstr(text, wanted[w]), "refit env lacks %s", wanted[w]);
    CHECK(strstr(text, "rack7"), "refit env does not show the value set");
    free(text);
    unsetenv("REFIT_NODE_ID");
}

int main(void) {
    test_table();
    test_int();
    test_choice();
    test_check_and_print();
    printf("test_settings: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
