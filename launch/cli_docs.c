/* `refit help-md`: the generated part of docs/cli.md, printed from the
 * same tables --help and refit env print from (options.c, report.c), so
 * the document cannot drift from the command (tests/cli checks it). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "report.h"
#include "rf_settings.h"

static const struct {
    const char *code, *meaning;
} exit_codes[] = {
    {"0", "every load committed, and the dump and report (if asked for) were written"},
    {"1", "a load failed (every rank keeps the previous generation; nothing is loaded if it was the first), "
          "or the dump or report could not be written after the loads"},
    {"2", "usage: unknown option or command, stray argument, bad value, a --report/--dump path that cannot be "
          "written (checked before the first load), bad REFIT_LOG/REFIT_LOG_SUBSYS"},
    {"124", "refit run: a load outlived --timeout (a rank hung or died); each rank's phase on stderr"},
    {"128+N", "refit run: ended by signal N (mpirun's SIGTERM after another rank died)"},
};

/* Markdown table cells: '|' would end the cell. */
static void cell(const char *s, FILE *out) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", out);
        else fputc(*s, out);
    }
}

static void env_name(const char *name, FILE *out) {
    fputs("REFIT_", out);
    for (const char *p = name; *p; p++) fputc(*p == '-' ? '_' : (*p >= 'a' && *p <= 'z' ? *p - 32 : *p), out);
}

static void commands_md(FILE *out) {
    int n;
    const rf_cmd_def_t *c = rf_cmd_table(&n);
    fprintf(out, "### Commands\n\n| command | usage | what it does |\n|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "| `%s` | `", c[i].name);
        cell(c[i].usage, out);
        fprintf(out, "` | ");
        cell(c[i].doc, out);
        fprintf(out, " |\n");
    }
}

static void options_md(FILE *out) {
    int n, nc;
    const rf_opt_def_t *t = rf_opt_table(&n);
    const rf_cmd_def_t *c = rf_cmd_table(&nc);
    fprintf(out, "\n### Options\n\nEach option is also read from its variable; a flag wins over the variable.\n\n"
                 "| option | variable | commands | default | meaning |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "| `--%s%s%s` | `", t[i].name, t[i].metavar ? " " : "", t[i].metavar ? t[i].metavar : "");
        env_name(t[i].name, out);
        fprintf(out, "` | ");
        for (int k = 0, first = 1; k < nc; k++)
            if (t[i].cmds & c[k].bit) {
                fprintf(out, "%s%s", first ? "" : ", ", c[k].name);
                first = 0;
            }
        fprintf(out, " | %s | ", t[i].def ? t[i].def : "-");
        cell(t[i].doc, out);
        if (t[i].choices) {
            fprintf(out, " (`");
            cell(t[i].choices, out);
            fprintf(out, "`)");
        }
        if (t[i].repeat) fprintf(out, "; repeatable");
        fprintf(out, " |\n");
    }
}

static void variables_md(FILE *out) {
    fprintf(out, "\n### Library variables\n\nRead by the library itself, on every rank (include/base/rf_settings.h); "
                 "a malformed value fails refit_create, and `refit run` before anything starts (exit 2).\n\n"
                 "| variable | default | meaning |\n|---|---|---|\n");
    for (int i = 0; i < RF_SET_COUNT; i++) {
        const rf_setting_def_t *d = rf_setting_def((rf_setting_id_t)i);
        fprintf(out, "| `%s` | %s | ", d->name, d->def[0] ? d->def : "-");
        cell(d->doc, out);
        if (d->choices) {
            fprintf(out, " (`");
            cell(d->choices, out);
            fprintf(out, "`%s)", d->type == RF_SETTING_LIST ? ", comma list" : "");
        }
        fprintf(out, " |\n");
    }
}

static void exit_md(FILE *out) {
    fprintf(out, "\n### Exit codes\n\n| code | meaning |\n|---|---|\n");
    for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++)
        fprintf(out, "| %s | %s |\n", exit_codes[i].code, exit_codes[i].meaning);
}

static void report_md(FILE *out) {
    int n;
    const rf_report_field_t *f = rf_report_fields(&n);
    fprintf(out, "\n### Report fields (`--report FILE`, schema `%s` version %d)\n\n| field | meaning |\n|---|---|\n",
            RF_REPORT_SCHEMA, RF_REPORT_SCHEMA_VERSION);
    for (int i = 0; i < n; i++) {
        fprintf(out, "| `%s` | ", f[i].field);
        cell(f[i].meaning, out);
        fprintf(out, " |\n");
    }
}

int rf_cmd_help_md(int argc, char **argv) {
    (void)argv;
    if (argc) {
        fprintf(stderr, "refit help-md: takes no arguments\n");
        return 2;
    }
    commands_md(stdout);
    options_md(stdout);
    variables_md(stdout);
    exit_md(stdout);
    report_md(stdout);
    return 0;
}
