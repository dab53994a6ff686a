/* safetensors reader and writer: a round trip, then every class of bad file
 * with the exact error it must produce. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

#include "check.h"

static char tmpdir[] = "/tmp/rf_test_st_XXXXXX";


/* Expects `st` to be `code` with `want` somewhere in the message. */
static void expect_err_at(int line, refit_status st, refit_status code, const char *want) {
    if (st != code || !strstr(rf_err_msg(), want)) {
        fprintf(stderr, "%s:%d: expected %s containing \"%s\", got %s: \"%s\"\n", __FILE__, line,
                refit_status_str(code), want, refit_status_str(st), rf_err_msg());
        failures++;
    }
    rf_err_clear();
}
#define EXPECT_ERR(st, code, want) expect_err_at(__LINE__, (st), (code), (want))

/* A file image: 8-byte length of `hdr`, `hdr`, then `data_len` bytes. */
static uint8_t *image(const char *hdr, size_t data_len, size_t *len) {
    size_t n = strlen(hdr);
    *len = 8 + n + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, hdr, n);
    for (size_t i = 0; i < data_len; i++) b[8 + n + i] = (uint8_t)i;
    return b;
}

/* Parses an image built from `hdr` and expects the error. */
static void bad_at(int line, const char *hdr, size_t data_len, const char *want) {
    size_t len;
    uint8_t *b = image(hdr, data_len, &len);
    rf_st_file_t *f = NULL;
    refit_status st = rf_st_parse(b, len, "x.safetensors", &f);
    expect_err_at(line, st, REFIT_ERR_FORMAT, want);
    if (f) {
        fprintf(stderr, "%s:%d: output set on failure\n", __FILE__, line);
        failures++;
        rf_st_close(f);
    }
    free(b);
}
#define BAD(hdr, data_len, want) bad_at(__LINE__, (hdr), (data_len), (want))

static void write_file(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(buf, 1, len, fp) != len) {
        perror(path);
        exit(1);
    }
    fclose(fp);
}

static char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

/* Fill callback: tensor i gets bytes (i * 16 + j). */
static refit_status fill_pattern(void *user, size_t index, uint8_t *dst, uint64_t nbytes) {
    (*(int *)user)++;
    for (uint64_t j = 0; j < nbytes; j++) dst[j] = (uint8_t)(index * 16 + j);
    return REFIT_OK;
}

static refit_status fill_fail(void *user, size_t index, uint8_t *dst, uint64_t nbytes) {
    (void)user, (void)dst, (void)nbytes;
    return rf_error(REFIT_ERR_NUMERIC, "fill failed on tensor %zu", index);
}

static void test_round_trip(void) {
    rf_st_writer_t *w = NULL;
    CHECK(rf_st_writer_create(&w) == REFIT_OK);
    uint16_t a[6] = {1, 2, 3, 4, 5, 6};
    float b[4] = {1.5f, -2.f, 0.f, 3.25f};
    uint64_t sa[2] = {2, 3}, sb[1] = {4}, sc[2] = {3, 5}, sz[2] = {0, 7};
    CHECK(rf_st_writer_add(w, "model.a", RF_DT_BF16, 2, sa, a) == REFIT_OK);
    CHECK(rf_st_writer_add(w, "model.b", RF_DT_F32, 1, sb, b) == REFIT_OK);
    CHECK(rf_st_writer_add(w, "model.c", RF_DT_F8_E4M3, 2, sc, NULL) == REFIT_OK); /* filled */
    CHECK(rf_st_writer_add(w, "model.empty", RF_DT_BF16, 2, sz, NULL) == REFIT_OK);
    CHECK(rf_st_writer_add(w, "model.scalar", RF_DT_F32, 0, NULL, b) == REFIT_OK);
    CHECK(rf_st_writer_meta(w, "generation", "3") == REFIT_OK);
    CHECK(rf_st_writer_meta(w, "scheme", "fp8-tensor") == REFIT_OK);
    EXPECT_ERR(rf_st_writer_add(w, "model.a", RF_DT_BF16, 2, sa, a), REFIT_ERR_INVALID_ARG,
               "tensor model.a added twice");
    EXPECT_ERR(rf_st_writer_add(w, "__metadata__", RF_DT_BF16, 2, sa, a), REFIT_ERR_INVALID_ARG,
               "reserved");
    int calls = 0;
    const char *path = tpath("rt.safetensors");
    CHECK(rf_st_writer_write(w, path, fill_pattern, &calls) == REFIT_OK);
    CHECK(calls == 1); /* only model.c; the empty tensor needs no bytes */
    rf_st_writer_destroy(w);
    CHECK(access(tpath("rt.safetensors.tmp"), F_OK) != 0);

    rf_st_file_t *f = NULL;
    CHECK(rf_st_open(path, &f) == REFIT_OK);
    if (!f) {
        fprintf(stderr, "open failed: %s\n", rf_err_msg());
        failures++;
        return;
    }
    CHECK(!strcmp(rf_st_label(f), path));
    CHECK(rf_st_data_start(f) % 8 == 0);
    CHECK(rf_st_count(f) == 5);
    /* Data order is insertion order; the empty tensor sits at 27 with the scalar. */
    const char *order[] = {"model.a", "model.b", "model.c", "model.empty", "model.scalar"};
    for (size_t i = 0; i < 5 && i < rf_st_count(f); i++)
        CHECK(!strcmp(rf_st_at(f, i)->name, order[i]));
    CHECK(rf_st_at(f, 5) == NULL);
    uint8_t buf[16];
    const rf_st_tensor_t *t = rf_st_find(f, "model.a");
    CHECK(t && t->dtype == RF_DT_BF16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
          t->nelem == 6 && t->begin == 0 && t->end == 12);
    CHECK(rf_st_data(f, t) == NULL); /* a file is read with pread, never mapped */
    CHECK(t && rf_st_read(f, t, 0, sizeof a, buf) == REFIT_OK && !memcmp(buf, a, sizeof a));
    t = rf_st_find(f, "model.b");
    CHECK(t && t->dtype == RF_DT_F32 && t->begin == 12 && rf_st_read(f, t, 0, sizeof b, buf) == REFIT_OK &&
          !memcmp(buf, b, sizeof b));
    t = rf_st_find(f, "model.c");
    CHECK(t && t->dtype == RF_DT_F8_E4M3 && t->nelem == 15 && t->end - t->begin == 15);
    if (t && rf_st_read(f, t, 0, 15, buf) == REFIT_OK) {
        for (int j = 0; j < 15; j++) CHECK(buf[j] == (uint8_t)(2 * 16 + j));
    }
    if (t) EXPECT_ERR(rf_st_read(f, t, 10, 6, buf), REFIT_ERR_INVALID_ARG, "past its 15 bytes");
    t = rf_st_find(f, "model.empty");
    CHECK(t && t->nelem == 0 && t->begin == t->end);
    t = rf_st_find(f, "model.scalar");
    CHECK(t && t->ndim == 0 && t->nelem == 1 && rf_st_read(f, t, 0, 4, buf) == REFIT_OK && !memcmp(buf, b, 4));
    CHECK(rf_st_find(f, "model.zzz") == NULL);
    CHECK(rf_st_find(f, "") == NULL);
    CHECK(rf_st_meta_count(f) == 2);
    CHECK(rf_st_meta(f, "generation") && !strcmp(rf_st_meta(f, "generation"), "3"));
    CHECK(rf_st_meta(f, "scheme") && !strcmp(rf_st_meta(f, "scheme"), "fp8-tensor"));
    CHECK(rf_st_meta(f, "nope") == NULL);
    const char *k, *v;
    rf_st_meta_at(f, 0, &k, &v);
    CHECK(!strcmp(k, "generation") && !strcmp(v, "3"));
    rf_st_close(f);

    /* Header layout: __metadata__ first, compact, space padded to 8. */
    FILE *fp = fopen(path, "rb");
    char raw[512] = {0};
    size_t got = fp ? fread(raw, 1, sizeof raw - 1, fp) : 0;
    if (fp) fclose(fp);
    const char *head = "{\"__metadata__\":{\"generation\":\"3\",\"scheme\":\"fp8-tensor\"},"
                       "\"model.a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},";
    CHECK(got > 8 && !strncmp(raw + 8, head, strlen(head)));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)raw[i];
    CHECK((8 + n) % 8 == 0);
    CHECK(n < sizeof raw - 8 && (raw[8 + n - 1] == ' ' || raw[8 + n - 1] == '}'));
}

static void test_writer_errors(void) {
    rf_st_writer_t *w = NULL;
    uint64_t sh[1] = {4};
    CHECK(rf_st_writer_create(&w) == REFIT_OK);
    CHECK(rf_st_writer_add(w, "t", RF_DT_F32, 1, sh, NULL) == REFIT_OK);
    /* The fill callback's own error propagates and no file is left behind. */
    const char *path = tpath("fail.safetensors");
    EXPECT_ERR(rf_st_writer_write(w, path, fill_fail, NULL), REFIT_ERR_NUMERIC,
               "fill failed on tensor 0");
    CHECK(access(path, F_OK) != 0 && access(tpath("fail.safetensors.tmp"), F_OK) != 0);
    EXPECT_ERR(rf_st_writer_write(w, path, NULL, NULL), REFIT_ERR_INVALID_ARG,
               "no fill callback");
    EXPECT_ERR(rf_st_writer_write(w, "/nonexistent-dir/x.safetensors", fill_pattern, &(int){0}),
               REFIT_ERR_IO, "/nonexistent-dir/x.safetensors.tmp: open: No such file or directory");
    uint64_t huge[2] = {1ull << 40, 1ull << 40};
    EXPECT_ERR(rf_st_writer_add(w, "huge", RF_DT_F32, 2, huge, NULL), REFIT_ERR_INVALID_ARG,
               "tensor huge: F32 [1099511627776, 1099511627776] is too large");
    EXPECT_ERR(rf_st_writer_add(w, "bad\xff", RF_DT_F32, 1, sh, NULL), REFIT_ERR_INVALID_ARG,
               "not valid UTF-8");
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    EXPECT_ERR(rf_st_writer_add(w, longname, RF_DT_F32, 1, sh, NULL), REFIT_ERR_INVALID_ARG,
               "is 299 bytes, limit 255");
    rf_st_writer_destroy(w);

    /* An empty file is valid: header "{}" padded, no data. */
    CHECK(rf_st_writer_create(&w) == REFIT_OK);
    path = tpath("empty.safetensors");
    CHECK(rf_st_writer_write(w, path, NULL, NULL) == REFIT_OK);
    rf_st_writer_destroy(w);
    rf_st_file_t *f = NULL;
    CHECK(rf_st_open(path, &f) == REFIT_OK && f && rf_st_count(f) == 0);
    rf_st_close(f);
}

static void test_open_errors(void) {
    rf_st_file_t *f = NULL;
    const char *missing = tpath("missing.safetensors");
    char want[600];
    snprintf(want, sizeof want, "%s: open: No such file or directory", missing);
    EXPECT_ERR(rf_st_open(missing, &f), REFIT_ERR_IO, want);
    EXPECT_ERR(rf_st_open(tmpdir, &f), REFIT_ERR_IO, "not a regular file");

    const char *empty = tpath("zero.safetensors");
    write_file(empty, "", 0);
    snprintf(want, sizeof want, "%s: byte 0: file has 0 bytes, too short", empty);
    EXPECT_ERR(rf_st_open(empty, &f), REFIT_ERR_FORMAT, want);

    /* Truncated data buffer through the mmap path. */
    size_t len;
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    uint8_t *b = image(hdr, 10, &len);
    const char *trunc = tpath("trunc.safetensors");
    write_file(trunc, b, len);
    free(b);
    snprintf(want, sizeof want,
             "%s: byte %zu: tensor w: data_offsets [0,16) run past the end of the file "
             "(data buffer has 10 bytes, file %zu)", trunc, 8 + strlen(hdr), len);
    EXPECT_ERR(rf_st_open(trunc, &f), REFIT_ERR_FORMAT, want);
    CHECK(f == NULL);
}

#define E(name, dt, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_bad_inputs(void) {
    rf_st_file_t *f = NULL;
    uint8_t small[5] = {1, 2, 3, 4, 5};
    EXPECT_ERR(rf_st_parse(small, 5, "x.safetensors", &f), REFIT_ERR_FORMAT,
               "x.safetensors: byte 0: file has 5 bytes, too short for the 8-byte header length");

    uint8_t absurd[16] = {0};
    uint64_t n = 9999999999ull;
    for (int i = 0; i < 8; i++) absurd[i] = (uint8_t)(n >> (8 * i));
    EXPECT_ERR(rf_st_parse(absurd, 16, "ckpt/model-00001.safetensors", &f), REFIT_ERR_FORMAT,
               "ckpt/model-00001.safetensors: byte 0: header length 9999999999 exceeds limit "
               "100000000");
    uint8_t maxhdr[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    EXPECT_ERR(rf_st_parse(maxhdr, 16, "x.safetensors", &f), REFIT_ERR_FORMAT,
               "header length 18446744073709551615 exceeds limit 100000000");

    /* Header length larger than the file. */
    size_t len;
    uint8_t *b = image("{}", 0, &len);
    b[0] = 100;
    EXPECT_ERR(rf_st_parse(b, len, "x.safetensors", &f), REFIT_ERR_FORMAT,
               "x.safetensors: byte 0: header length 100 runs past the end of the file (needs "
               "108 bytes, file has 10)");
    free(b);

    BAD("", 0, "x.safetensors: byte 8: header does not start with '{'");
    BAD(" {}", 0, "x.safetensors: byte 8: header does not start with '{'");
    BAD("[]", 0, "x.safetensors: byte 8: header does not start with '{'");
    BAD("{\"a\":", 0, "x.safetensors: byte 13: invalid header JSON: ");
    BAD("{} x", 0, "invalid header JSON: end of file expected");
    BAD("{\"a\":1,\"a\":2}", 0, "x.safetensors: byte 18: invalid header JSON: duplicate object key");
    BAD("{\"\xff\":1}", 0, "invalid header JSON: unable to decode byte 0xff");
    BAD("{\"a\\u0000b\":1}", 0, "invalid header JSON: NUL byte in object key not supported");
    BAD("{" E("w", "F32", "[1]", 0, 4) "," E("w", "F32", "[1]", 4, 8) "}", 8,
        "duplicate object key");

    BAD("{\"w\":[]}", 0, "x.safetensors: byte 8: tensor w: entry is not an object");
    BAD("{" E("w", "Q4", "[1]", 0, 4) "}", 4, "x.safetensors: byte 8: tensor w: unknown dtype 'Q4'");
    BAD("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        "tensor w: dtype missing or not a string");
    BAD("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor w: dtype missing or not a string");
    BAD("{" E("w", "F32", "[-1]", 0, 4) "}", 4, "tensor w: shape[0] is not a non-negative integer");
    BAD("{" E("w", "F32", "[2, 1.5]", 0, 4) "}", 4, "tensor w: shape[1] is not a non-negative integer");
    BAD("{" E("w", "F32", "[\"4\"]", 0, 16) "}", 16, "tensor w: shape[0] is not a non-negative integer");
    BAD("{" E("w", "F32", "4", 0, 16) "}", 16, "tensor w: shape missing or not an array");
    BAD("{" E("w", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) "}", 1, "tensor w: shape has 9 dims, limit 8");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor w: data_offsets missing");
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
        "tensor w: data_offsets missing or not a [begin, end] pair");
    BAD("{" E("w", "F32", "[1]", -4, 0) "}", 4, "tensor w: data_offsets are not non-negative integers");
    BAD("{" E("w", "F32", "[0]", 4, 0) "}", 4, "tensor w: data_offsets [4,0) end before they begin");
    BAD("{" E("model.norm.weight", "BF16", "[4096]", 0, 10) "}", 10,
        "x.safetensors: byte 8: tensor model.norm.weight: data_offsets [0,10) hold 10 bytes but "
        "BF16 [4096] needs 8192");
    BAD("{" E("w", "F32", "[4294967296, 4294967296]", 0, 16) "}", 16,
        "tensor w: F32 [4294967296, 4294967296] byte size overflows");
    BAD("{" E("w", "F64", "[2305843009213693952]", 0, 16) "}", 16,
        "tensor w: F64 [2305843009213693952] byte size overflows");

    /* Tiling: overlap, hole, short buffer, trailing bytes. Header sizes are
     * computed so file bytes in the messages are exact. */
    const char *ov = "{" E("a", "F32", "[2]", 0, 8) "," E("b", "F32", "[2]", 4, 12) "}";
    char want[256];
    snprintf(want, sizeof want, "x.safetensors: tensors a and b overlap at data byte 4 (file byte %zu)",
             8 + strlen(ov) + 4);
    BAD(ov, 12, want);
    const char *hole = "{" E("b", "F32", "[2]", 12, 20) "," E("a", "F32", "[2]", 0, 8) "}";
    snprintf(want, sizeof want, "x.safetensors: hole in data buffer at byte 8 (file byte %zu)",
             8 + strlen(hole) + 8);
    BAD(hole, 20, want);
    const char *first_hole = "{" E("a", "F32", "[2]", 4, 12) "}";
    BAD(first_hole, 12, "hole in data buffer at byte 0");
    const char *one = "{" E("a", "F32", "[2]", 0, 8) "}";
    snprintf(want, sizeof want, "x.safetensors: data buffer ends at byte %zu but file has %zu bytes",
             8 + strlen(one) + 8, 8 + strlen(one) + 10);
    BAD(one, 10, want);
    BAD(one, 4, "tensor a: data_offsets [0,8) run past the end of the file (data buffer has 4 bytes");
    BAD("{}", 3, "data buffer ends at byte 10 but file has 13 bytes");

    BAD("{\"__metadata__\":{\"k\":1}}", 0, "x.safetensors: byte 8: __metadata__ value of 'k' is not a string");
    BAD("{\"__metadata__\":[\"k\"]}", 0, "x.safetensors: byte 8: __metadata__ is not an object");

    char longhdr[600];
    char name[300];
    memset(name, 'n', 256);
    name[256] = '\0';
    snprintf(longhdr, sizeof longhdr, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
             name);
    BAD(longhdr, 1, "is 256 bytes, limit 255");
    name[255] = '\0'; /* 255 bytes is the longest accepted */
    snprintf(longhdr, sizeof longhdr, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
             name);
    b = image(longhdr, 1, &len);
    CHECK(rf_st_parse(b, len, "x", &f) == REFIT_OK && f && rf_st_find(f, name));
    rf_st_close(f);
    f = NULL;
    free(b);

    /* Valid oddities: header padded with spaces, entries listed out of data
     * order (returned in data order), extra entry keys ignored, several
     * empty tensors at one offset. */
    const char *ok = "{\"__metadata__\":{\"format\":\"pt\"}," E("z", "BF16", "[2]", 8, 12) ","
                     E("e2", "BF16", "[0]", 12, 12) "," E("e1", "U8", "[3,0]", 12, 12) ","
                     "\"y\":{\"extra\":1,\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}     ";
    b = image(ok, 12, &len);
    refit_status st = rf_st_parse(b, len, "ok", &f);
    CHECK(st == REFIT_OK);
    if (st == REFIT_OK) {
        CHECK(rf_st_count(f) == 4);
        CHECK(!strcmp(rf_st_at(f, 0)->name, "y") && !strcmp(rf_st_at(f, 1)->name, "z"));
        CHECK(!strcmp(rf_st_at(f, 2)->name, "e1") && !strcmp(rf_st_at(f, 3)->name, "e2"));
        CHECK(rf_st_data(f, rf_st_find(f, "z")) == b + 8 + strlen(ok) + 8);
        CHECK(!strcmp(rf_st_meta(f, "format"), "pt"));
        rf_st_close(f);
    } else {
        fprintf(stderr, "valid file rejected: %s\n", rf_err_msg());
    }
    rf_err_clear();
    free(b);

    /* The first cause is kept: a second failure does not overwrite it. */
    b = image("[]", 0, &len);
    CHECK(rf_st_parse(b, len, "first", &f) == REFIT_ERR_FORMAT);
    CHECK(rf_st_parse(small, 5, "second", &f) == REFIT_ERR_FORMAT);
    CHECK(!strncmp(rf_err_msg(), "first:", 6));
    rf_err_clear();
    free(b);
}

static void test_dtypes(void) {
    rf_dtype_t dt;
    const char *names[] = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64",
                           "I64", "F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"};
    const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8, 1, 1};
    for (int i = 0; i < RF_DT_COUNT; i++) {
        CHECK(rf_dtype_parse(names[i], &dt) && dt == (rf_dtype_t)i);
        CHECK(!strcmp(rf_dtype_name((rf_dtype_t)i), names[i]));
        CHECK(rf_dtype_size((rf_dtype_t)i) == sizes[i]);
    }
    CHECK(!rf_dtype_parse("bf16", &dt) && !rf_dtype_parse("F8_E4M3FN", &dt));
}

static void cleanup(void) {
    const char *names[] = {"rt.safetensors", "empty.safetensors", "zero.safetensors",
                           "trunc.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tpath(names[i]));
    if (rmdir(tmpdir) != 0) {
        fprintf(stderr, "rmdir %s: %s\n", tmpdir, strerror(errno));
        failures++;
    }
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_dtypes();
    test_round_trip();
    test_writer_errors();
    test_open_errors();
    test_bad_inputs();
    cleanup();
    if (failures) {
        fprintf(stderr, "test_safetensors: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_safetensors: ok\n");
    return 0;
}
