/* The single-process subcommands: synth, plan, env, version. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "commands.h"
#include "options.h"
#include "snapshot.h"
#include "synth.h"
#include "units.h"

/* A failure after parsing: a wrong value (INVALID_ARG) is a usage error, exit 2. */
static int fail(const char *cmd, refit_status st) {
    fprintf(stderr, "refit %s: %s\n", cmd, rf_err_msg());
    return st == REFIT_ERR_INVALID_ARG ? 2 : 1;
}

/* ---- synth -------------------------------------------------------------- */
static void synth_progress(void *user, const rf_synth_progress_t *p) {
    (void)user;
    if (p->tensor) return;
    char done[24], total[24];
    printf("refit synth: %s written (%d/%d files, %s of %s)\n", p->file, p->file_index + 1, p->n_files,
           rf_human_bytes(p->bytes_done, done, sizeof done), rf_human_bytes(p->bytes_total, total, sizeof total));
    fflush(stdout);
}

static void synth_presets(FILE *out) {
    fprintf(out, "\npresets:\n");
    for (size_t i = 0; i < rf_synth_preset_count(); i++)
        fprintf(out, "  %-14s %s\n", rf_synth_preset_name(i), rf_synth_preset_doc(i));
}

/* --out must be new, empty, or a checkpoint (config.json) being rewritten:
 * writing beside unrelated files would mix them into the model. */
static int check_out_dir(const char *out, bool force) {
    struct stat sb;
    if (stat(out, &sb) != 0) return errno == ENOENT ? -1 : (fprintf(stderr, "refit synth: --out %s: %m\n", out), 2);
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "refit synth: --out %s: exists and is not a directory\n", out);
        return 2;
    }
    DIR *d = opendir(out);
    if (!d) {
        fprintf(stderr, "refit synth: --out %s: %m\n", out);
        return 2;
    }
    int entries = 0;
    bool ckpt = false;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        entries++;
        ckpt |= !strcmp(e->d_name, "config.json");
    }
    closedir(d);
    if (entries == 0 || ckpt || force) return -1;
    fprintf(stderr, "refit synth: --out %s: holds %d entr%s and no checkpoint (no config.json); "
                    "add --force to write there anyway\n", out, entries, entries == 1 ? "y" : "ies");
    return 2;
}

int rf_cmd_synth(int argc, char **argv) {
    rf_opts_t o;
    int rc = rf_opts_front(RF_CMD_SYNTH, argc, argv, &o, false, synth_presets);
    if (rc >= 0) return rc;
    const char *out = rf_opt_str(&o, "out");
    if (!out) {
        fprintf(stderr, "refit synth: --out DIR is required\n");
        return 2;
    }
    rf_model_config_t cfg;
    int files;
    long seed, nf;
    refit_status st;
    if ((st = rf_synth_preset(rf_opt_str(&o, "preset"), &cfg, &files)) != REFIT_OK) return fail("synth", st);
    if ((st = rf_opt_int(&o, "seed", 0, __LONG_MAX__, &seed)) != REFIT_OK) return fail("synth", st);
    if (rf_opt_str(&o, "files")) {
        if ((st = rf_opt_int(&o, "files", 1, 99999, &nf)) != REFIT_OK) return fail("synth", st);
        files = (int)nf;
    }
    if ((rc = check_out_dir(out, rf_opt_flag(&o, "force"))) >= 0) return rc;
    uint64_t bytes;
    size_t tensors;
    if ((st = rf_synth_total_bytes(&cfg, &bytes, &tensors)) != REFIT_OK) return fail("synth", st);
    const char *dt = rf_opt_str(&o, "dtype"); /* the parser has checked it */
    rf_dtype_t dtype = !strcmp(dt, "fp16") ? RF_DT_F16 : !strcmp(dt, "fp32") ? RF_DT_F32 : RF_DT_BF16;
    bytes = bytes / 2 * rf_dtype_size(dtype); /* rf_synth_total_bytes counts bf16 */
    char hb[24];
    printf("refit synth: %s (%s) -> %s: %zu tensors, %s%s%s in %d file%s, seed %ld\n", rf_opt_str(&o, "preset"),
           cfg.model_type, out, tensors, rf_human_bytes(bytes, hb, sizeof hb), dtype == RF_DT_BF16 ? "" : " of ",
           dtype == RF_DT_BF16 ? "" : rf_dtype_name(dtype), files, files > 1 ? "s" : "", seed);
    if ((st = rf_synth_write_as(out, &cfg, files, (uint64_t)seed, dtype, synth_progress, NULL)) != REFIT_OK)
        return fail("synth", st);
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
    char hb[4][24];
    printf("tp rank %d: receives %s bf16; live weights %s; shadow %s; largest bf16 staging %s; "
           "+ 2 buckets (--bucket-mb)\n", r, rf_human_bytes(bf16, hb[0], 24), rf_human_bytes(live, hb[1], 24),
           rf_human_bytes(live, hb[2], 24), rf_human_bytes(biggest, hb[3], 24));
}

int rf_cmd_plan(int argc, char **argv) {
    rf_opts_t o;
    int rc = rf_opts_front(RF_CMD_PLAN, argc, argv, &o, false, NULL);
    if (rc >= 0) return rc;
    if (o.n_list != 1) {
        fprintf(stderr, "refit plan: give exactly one --checkpoint DIR\n");
        return 2;
    }
    long tp = 1;
    rf_qscheme_t scheme;
    refit_status st;
    if (rf_opt_str(&o, "tp") && (st = rf_opt_int(&o, "tp", 1, 1 << 20, &tp)) != REFIT_OK) return fail("plan", st);
    rf_q_scheme_parse(rf_opt_str(&o, "quant"), &scheme); /* the parser has checked both */
    rf_moe_mode_t moe;
    rf_moe_mode_parse(rf_opt_str(&o, "moe"), &moe);
    rf_ckpt_t *c = NULL;
    rf_snap_t *s = NULL;
    st = rf_ckpt_open(o.list[0], &c);
    if (st == REFIT_OK) st = rf_snap_build(rf_ckpt_config(c), (int)tp, moe, scheme, &s);
    if (st == REFIT_OK) st = rf_snap_check_ckpt(s, c);
    if (st != REFIT_OK) {
        rf_snap_free(s);
        rf_ckpt_close(c);
        fprintf(stderr, "refit plan: %s\n", rf_err_msg()); /* the checkpoint's fault, not the command line's */
        return 1;
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

/* ---- env, version ------------------------------------------------------- */
int rf_cmd_env(int argc, char **argv) {
    rf_opts_t o;
    int rc = rf_opts_front(RF_CMD_ENV, argc, argv, &o, false, NULL);
    if (rc >= 0) return rc;
    rf_opts_print_env(stdout);
    return 0;
}

int rf_cmd_version(int argc, char **argv) {
    rf_opts_t o;
    int rc = rf_opts_front(RF_CMD_VERSION, argc, argv, &o, false, NULL);
    if (rc >= 0) return rc;
    printf("refit %s\n", refit_version());
#ifdef REFIT_HAVE_CUDA
    printf("backends: host, cuda\n");
#else
    printf("backends: host (built without CUDA)\n");
#endif
    return 0;
}
