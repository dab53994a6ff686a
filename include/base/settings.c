/* The settings table (rf_settings.h) and its readers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rf_settings.h"

static const rf_setting_def_t table[RF_SET_COUNT] = {
#define RF_SETTING_DEF(id, name, type, def, choices, lo, hi, doc) [RF_SET_##id] = {name, type, def, choices, lo, hi, doc},
    RF_SETTINGS(RF_SETTING_DEF)
#undef RF_SETTING_DEF
};

const rf_setting_def_t *rf_setting_def(rf_setting_id_t id) {
    return (unsigned)id < RF_SET_COUNT ? &table[id] : NULL;
}

const char *rf_setting_raw(rf_setting_id_t id) {
    const rf_setting_def_t *d = rf_setting_def(id);
    const char *v = d ? getenv(d->name) : NULL;
    return v && *v ? v : NULL;
}

/* Index of `v` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *v) {
    size_t n = strlen(v);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return i;
        if (!end) break;
        p = end + 1;
    }
    return -1;
}

static bool parse_long(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* "NAME: 'value' is not ...", as the command's own options say it. */
static refit_status malformed(const rf_setting_def_t *d, const char *v, size_t len) {
    if (d->type == RF_SETTING_INT)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: '%s' is not an integer in [%ld, %ld]", d->name, v, d->lo, d->hi);
    char list[160];
    size_t k = 0;
    for (const char *p = d->choices; *p && k + 3 < sizeof list; p++) { /* "a|b" -> "a, b" */
        if (*p == '|') list[k++] = ',';
        list[k++] = *p == '|' ? ' ' : *p;
    }
    list[k] = '\0';
    return rf_error(REFIT_ERR_INVALID_ARG, "%s: '%.*s' is not one of %s", d->name, (int)len, v, list);
}

/* LIST: the first word of v that is not a choice is the error. */
static refit_status check_list(const rf_setting_def_t *d, const char *v) {
    for (const char *p = v; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)len, p);
        if (choice_index(d->choices, word) < 0) return malformed(d, p, len);
        if (!end) break;
        p = end + 1;
    }
    return REFIT_OK;
}

/* The value to use (environment or default), checked against the type. */
static refit_status lookup(rf_setting_id_t id, const char **text, long *num, int *choice) {
    const rf_setting_def_t *d = rf_setting_def(id);
    if (!d) return rf_error(REFIT_ERR_INTERNAL, "setting %d does not exist", (int)id);
    const char *v = rf_setting_raw(id);
    if (!v) v = d->def;
    long n = 0;
    int c = 0;
    if (d->type == RF_SETTING_INT && !parse_long(v, d->lo, d->hi, &n)) return malformed(d, v, strlen(v));
    if (d->type == RF_SETTING_CHOICE && (c = choice_index(d->choices, v)) < 0) return malformed(d, v, strlen(v));
    if (d->type == RF_SETTING_LIST) RF_CHECK(check_list(d, v));
    if (text) *text = v;
    if (num) *num = n;
    if (choice) *choice = c;
    return REFIT_OK;
}

refit_status rf_setting_str(rf_setting_id_t id, const char **out) { return lookup(id, out, NULL, NULL); }

refit_status rf_setting_int(rf_setting_id_t id, long *out) {
    if (rf_setting_def(id) && table[id].type != RF_SETTING_INT)
        return rf_error(REFIT_ERR_INTERNAL, "%s is not an integer setting", table[id].name);
    return lookup(id, NULL, out, NULL);
}

refit_status rf_setting_choice(rf_setting_id_t id, int *out) {
    if (rf_setting_def(id) && table[id].type != RF_SETTING_CHOICE)
        return rf_error(REFIT_ERR_INTERNAL, "%s is not a choice setting", table[id].name);
    return lookup(id, NULL, NULL, out);
}

int rf_setting_choice_or_default(rf_setting_id_t id) {
    const rf_setting_def_t *d = rf_setting_def(id);
    if (!d || d->type != RF_SETTING_CHOICE) return 0;
    const char *v = rf_setting_raw(id);
    int c = v ? choice_index(d->choices, v) : -1;
    return c >= 0 ? c : choice_index(d->choices, d->def);
}

refit_status rf_settings_check(void) {
    for (int i = 0; i < RF_SET_COUNT; i++) {
        RF_CHECK(lookup((rf_setting_id_t)i, NULL, NULL, NULL));
        const char *v = rf_setting_raw((rf_setting_id_t)i);
        if (v) RF_INFO("settings", "%s=%s (from the environment)", table[i].name, v);
    }
    return REFIT_OK;
}

void rf_settings_print(FILE *out) {
    for (int i = 0; i < RF_SET_COUNT; i++) {
        const char *v = rf_setting_raw((rf_setting_id_t)i);
        const char *def = table[i].def[0] ? table[i].def : "-";
        fprintf(out, "%-20s %-12s %-12s %s", table[i].name, v ? v : "-", def, table[i].doc);
        if (table[i].choices) fprintf(out, " [%s]", table[i].choices);
        fputc('\n', out);
    }
}
