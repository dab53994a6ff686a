/* The single-process subcommands: synth, plan, inspect, env. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "commands.h"
#include "rf_fileio.h"
#include "options.h"
#include "snapshot.h"
#include "synth.h"

/* Parses options; prints help or the error. Returns -1 to go on, else an exit code. */
static int parse_or_help(unsigned cmd, const char *usage_line, int argc, char **argv, rf_opts_t *o) {
    bool help;
    refit_status st = rf_opts_parse(cmd, argc, argv, o, &help);
    if (st != REFIT_OK) fprintf(stderr, "refit: %s\n", rf_err_msg());
    if (help || st != REFIT_OK) {
        FILE *out = st != REFIT_OK ? stderr : stdout;
        fprintf(out, "%s\n", usage_line);
        rf_opts_help(cmd, out);
        return st != REFIT_OK ? 2 : 0;
    }
    return -1;
}

static int fail(const char *cmd) {
    fprintf(stderr, "refit %s: %s\n", cmd, rf_err_msg());
    return 1;
}

/* ---- synth -------------------------------------------------------------- */
static void synth_progress(void *user, const rf_synth_progress_t *p) {
    (void)user;
    if (p->tensor) return;
    printf("refit synth: %s written (%d/%d files, %.2f of %.2f GB)\n", p->file, p->file_index + 1, p->n_files,
           (double)p->bytes_done / 1e9, (double)p->bytes_total / 1e9);
    fflush(stdout);
}

static void synth_usage_presets(void) {
    printf("\npresets:\n");
    for (size_t i = 0; i < rf_synth_preset_count(); i++)
        printf("  %-14s %s\n", rf_synth_preset_name(i), rf_synth_preset_doc(i));
}

int rf_cmd_synth(int argc, char **argv) {
    rf_opts_t o;
    int rc = parse_or_help(RF_CMD_SYNTH, "usage: refit synth --out DIR [--preset NAME] [--seed N] [--files N]",
                           argc, argv, &o);
    if (rc >= 0) {
        if (rc == 0) synth_usage_presets();
        return rc;
    }
    const char *out = rf_opt_str(&o, "out");
    if (!out) {
        fprintf(stderr, "refit synth: --out DIR is required\n");
        return 2;
    }
    rf_model_config_t cfg;
    int files;
    long seed, nf;
    if (rf_synth_preset(rf_opt_str(&o, "preset"), &cfg, &files) != REFIT_OK) return fail("synth");
    if (rf_opt_int(&o, "seed", 0, __LONG_MAX__, &seed) != REFIT_OK) return fail("synth");
    if (rf_opt_str(&o, "files")) {
        if (rf_opt_int(&o, "files", 1, 99999, &nf) != REFIT_OK) return fail("synth");
        files = (int)nf;
    }
    uint64_t bytes;
    size_t tensors;
    if (rf_synth_total_bytes(&cfg, &bytes, &tensors) != REFIT_OK) return fail("synth");
    printf("refit synth: %s (%s) -> %s: %zu tensors, %.2f GB in %d file%s, seed %ld\n", rf_opt_str(&o, "preset"),
           cfg.model_type, out, tensors, (double)bytes / 1e9, files, files > 1 ? "s" : "", seed);
    if (rf_synth_write(out, &cfg, files, (uint64_t)seed, synth_progress, NULL) != REFIT_OK) return fail("synth");
    return 0;
}

/* ---- plan --------------------------------------------------------------- */
/* An expert param on one tp rank: its experts and the intermediate range,
 * e.g. "experts [4,5) of 6: gate_proj,up_proj rows [0,160)". */
static void print_experts(const rf_param_t *p, int tp, int r) {
    rf_expert_slice_t e = rf_param_experts(p, tp, r);
    printf(" experts [%lld,%lld) of %lld:", (long long)e.e0, (long long)(e.e0 + e.n), (long long)p->experts);
    for (int k = 0; k < p->n_parts; k++) {
        const char *mark = strstr(p->parts[k].src, RF_EXPERT_MARK), *stem = mark + strlen(RF_EXPERT_MARK) + 1;
        printf("%s%.*s", k ? "," : " ", (int)(strrchr(stem, '.') - stem), stem);
    }
    printf(" %s [%lld,%lld)\n", p->layout == RF_LAYOUT_EXPERTS_W13 ? "rows" : "columns", (long long)e.c0,
           (long long)(e.c0 + e.inter));
}

/* Source row ranges of one param on one tp rank, e.g. "q_proj[0,256) k_proj[0,128)". */
static void print_sources(const rf_param_t *p, int tp, int r) {
    if (rf_param_is_expert(p)) {
        print_experts(p, tp, r);
        return;
    }
    int64_t start = 0;
    rf_row_src_t first = rf_param_row_source(p, tp, r, 0);
    for (int64_t row = 1; row <= p->rows; row++) {
        rf_row_src_t s = row < p->rows ? rf_param_row_source(p, tp, r, row) : (rf_row_src_t){.part = -2};
        bool same = s.part == first.part && s.src_col == first.src_col &&
                    (first.part < 0 || s.src_row == first.src_row + (row - start));
        if (same) continue;
        if (first.part < 0) {
            printf(" zeros[%lld rows]", (long long)(row - start));
        } else {
            const char *name = strrchr(p->parts[first.part].src, '.');
            const char *base = p->parts[first.part].src;
            /* the module name (q_proj) is the component before ".weight"/".bias" */
            const char *mod = base;
            for (const char *c = base; c < name; c++)
                if (*c == '.') mod = c + 1;
            printf(" %.*s[%lld,%lld)", (int)(name - mod), mod, (long long)first.src_row,
                   (long long)(first.src_row + row - start));
            if (p->ndim == 2 && p->layout == RF_LAYOUT_ROW)
                printf("x[%lld,%lld)", (long long)first.src_col, (long long)(first.src_col + p->cols));
        }
        start = row;
        first = s;
    }
    putchar('\n');
}

/* What tp rank r receives and holds: under --moe ep the ranks differ. */
static void print_rank_bytes(const rf_snap_t *s, int r) {
    uint64_t live = 0, bf16 = 0, biggest = 0;
    for (size_t i = 0; i < s->n_params; i++) {
        const rf_param_t *p = &s->params[i];
        uint64_t b = rf_param_local_elems(p, s->tp, r) * 2, data, scales;
        rf_snap_param_sizes(s, p, r, &data, &scales);
        bf16 += b;
        live += data + scales;
        if (rf_snap_param_quantized(s, p) && b > biggest) biggest = b;
    }
    printf("tp rank %d: receives %.3f MB bf16; live weights %.3f MB; shadow %.3f MB; largest bf16 staging "
           "%.3f MB; + 2 buckets (--bucket-mb)\n",
           r, (double)bf16 / 1e6, (double)live / 1e6, (double)live / 1e6, (double)biggest / 1e6);
}

int rf_cmd_plan(int argc, char **argv) {
    rf_opts_t o;
    int rc = parse_or_help(RF_CMD_PLAN, "usage: refit plan --checkpoint DIR [--tp N] [--quant SCHEME] [--moe tp|ep]",
                           argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.n_list != 1) {
        fprintf(stderr, "refit plan: give exactly one --checkpoint DIR\n");
        return 2;
    }
    long tp = 1;
    rf_qscheme_t scheme;
    if (rf_opt_str(&o, "tp") && rf_opt_int(&o, "tp", 1, 1 << 20, &tp) != REFIT_OK) return fail("plan");
    if (!rf_q_scheme_parse(rf_opt_str(&o, "quant"), &scheme)) {
        fprintf(stderr, "refit plan: unknown --quant '%s'\n", rf_opt_str(&o, "quant"));
        return 2;
    }
    rf_moe_mode_t moe;
    if (!rf_moe_mode_parse(rf_opt_str(&o, "moe"), &moe)) {
        fprintf(stderr, "refit plan: unknown --moe '%s' (tp, ep)\n", rf_opt_str(&o, "moe"));
        return 2;
    }
    rf_ckpt_t *c = NULL;
    rf_snap_t *s = NULL;
    if (rf_ckpt_open(o.list[0], &c) != REFIT_OK || rf_snap_build(rf_ckpt_config(c), (int)tp, moe, scheme, &s) != REFIT_OK ||
        rf_snap_check_ckpt(s, c) != REFIT_OK) {
        rf_snap_free(s);
        rf_ckpt_close(c);
        return fail("plan");
    }
    rf_snap_print(s, stdout);
    for (int r = 0; r < tp; r++) {
        printf("\ntp rank %d (and its replicas): sources of each param\n", r);
        for (size_t i = 0; i < s->n_params; i++) {
            printf("  %-58s", s->params[i].name);
            print_sources(&s->params[i], (int)tp, r);
        }
    }
    putchar('\n');
    for (int r = 0; r < tp; r++) print_rank_bytes(s, r);
    rf_snap_free(s);
    rf_ckpt_close(c);
    return 0;
}

/* ---- inspect ------------------------------------------------------------ */
static void print_shape(const rf_st_tensor_t *t) {
    putchar('[');
    for (int d = 0; d < t->ndim; d++) printf("%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
    putchar(']');
}

static int inspect_safetensors(const char *path) {
    rf_st_file_t *f;
    if (rf_st_open(path, &f) != REFIT_OK) return fail("inspect");
    printf("%s: safetensors, %zu tensors, data at byte %llu\n", path, rf_st_count(f),
           (unsigned long long)rf_st_data_start(f));
    for (size_t i = 0; i < rf_st_meta_count(f); i++) {
        const char *k, *v;
        rf_st_meta_at(f, i, &k, &v);
        printf("  metadata %s = %s\n", k, v);
    }
    for (size_t i = 0; i < rf_st_count(f); i++) {
        const rf_st_tensor_t *t = rf_st_at(f, i);
        printf("  %-60s %-8s ", t->name, rf_dtype_name(t->dtype));
        print_shape(t);
        printf(" bytes [%llu,%llu)\n", (unsigned long long)t->begin, (unsigned long long)t->end);
    }
    rf_st_close(f);
    return 0;
}

static int inspect_snapshot(const char *path) {
    char *buf = NULL;
    size_t n = 0;
    if (rf_read_small(path, (size_t)1 << 30, &buf, &n) != REFIT_OK) return fail("inspect");
    rf_snap_t *s;
    refit_status st = rf_snap_decode((const uint8_t *)buf, n, path, &s);
    if (st == REFIT_OK) {
        printf("%s: digest %016llx\n", path, (unsigned long long)rf_snap_digest((const uint8_t *)buf, n));
        rf_snap_print(s, stdout);
        rf_snap_free(s);
    }
    free(buf);
    return st == REFIT_OK ? 0 : fail("inspect");
}

static int inspect_dir(const char *dir) {
    rf_ckpt_t *c;
    if (rf_ckpt_open(dir, &c) != REFIT_OK) return fail("inspect");
    const rf_model_config_t *cfg = rf_ckpt_config(c);
    printf("%s: %s checkpoint, %zu tensors, hidden %lld, %lld layers, vocab %lld\n", dir, cfg->model_type,
           rf_ckpt_count(c), (long long)cfg->hidden, (long long)cfg->n_layers, (long long)cfg->vocab);
    for (size_t i = 0; i < rf_ckpt_count(c); i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(c, i, &f, &t);
        printf("  %-60s %-6s ", t->name, rf_dtype_name(t->dtype));
        print_shape(t);
        const char *base = strrchr(rf_st_label(f), '/');
        printf("  %s\n", base ? base + 1 : rf_st_label(f));
    }
    rf_ckpt_close(c);
    return 0;
}

int rf_cmd_inspect(int argc, char **argv) {
    rf_opts_t o;
    int rc = parse_or_help(RF_CMD_INSPECT, "usage: refit inspect FILE|DIR  (safetensors file, snapshot.refit, or checkpoint dir)",
                           argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.n_positional != 1) {
        fprintf(stderr, "refit inspect: give one FILE or DIR\n");
        return 2;
    }
    const char *path = o.positional[0];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "refit inspect: %s: %m\n", path);
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) return inspect_dir(path);
    FILE *fp = fopen(path, "rb");
    char magic[8] = {0};
    size_t got = fp ? fread(magic, 1, 8, fp) : 0;
    if (fp) (void)fclose(fp); /* read-only: the magic read is all that matters */
    if (got == 8 && !memcmp(magic, RF_SNAP_MAGIC, 8)) return inspect_snapshot(path);
    return inspect_safetensors(path);
}

/* ---- env ---------------------------------------------------------------- */
int rf_cmd_env(int argc, char **argv) {
    (void)argc;
    (void)argv;
    rf_opts_print_env(stdout);
    return 0;
}
