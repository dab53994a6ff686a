/* config.json parsing: families, defaults, and every rejected field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

#include "check.h"



static refit_status parse(const char *json, rf_model_config_t *c) {
    return rf_cfg_parse(json, strlen(json), "ckpt/config.json", c);
}

/* Expects failure with `code` and `want` in the message, and *out untouched. */
static void bad_at(int line, const char *json, refit_status code, const char *want) {
    rf_model_config_t c;
    memset(&c, 0xAB, sizeof c);
    refit_status st = parse(json, &c);
    if (st != code || !strstr(rf_err_msg(), want)) {
        fprintf(stderr, "%s:%d: expected %s containing \"%s\", got %s: \"%s\"\n", __FILE__, line,
                refit_status_str(code), want, refit_status_str(st), rf_err_msg());
        failures++;
    }
    unsigned char *p = (unsigned char *)&c;
    for (size_t i = 0; i < sizeof c; i++)
        if (p[i] != 0xAB) {
            fprintf(stderr, "%s:%d: output written on failure\n", __FILE__, line);
            failures++;
            break;
        }
    rf_err_clear();
}
#define BAD(json, code, want) bad_at(__LINE__, (json), (code), (want))

#define LLAMA_FIELDS                                                                        \
    "\"hidden_size\":4096,\"num_attention_heads\":32,\"intermediate_size\":11008,"          \
    "\"vocab_size\":32000,\"num_hidden_layers\":32"

static void test_valid(void) {
    rf_model_config_t c;
    /* Defaults: kv heads = heads, head_dim = hidden/heads, untied. */
    CHECK(parse("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"rope_theta\":10000.0}", &c) ==
          REFIT_OK);
    CHECK(!strcmp(c.model_type, "llama") && c.family == RF_FAM_LLAMA);
    CHECK(c.hidden == 4096 && c.n_heads == 32 && c.n_kv_heads == 32 && c.head_dim == 128);
    CHECK(c.intermediate == 11008 && c.vocab == 32000 && c.n_layers == 32);
    CHECK(!c.tie_embeddings && !c.qkv_bias && !c.qk_norm);

    CHECK(parse("{\"model_type\":\"mistral\"," LLAMA_FIELDS
                ",\"num_key_value_heads\":8,\"head_dim\":null,\"tie_word_embeddings\":null}",
                &c) == REFIT_OK);
    CHECK(c.family == RF_FAM_MISTRAL && c.n_kv_heads == 8 && c.head_dim == 128 &&
          !c.tie_embeddings);

    CHECK(parse("{\"model_type\":\"qwen2\",\"hidden_size\":896,\"num_attention_heads\":14,"
                "\"num_key_value_heads\":2,\"intermediate_size\":4864,\"vocab_size\":151936,"
                "\"num_hidden_layers\":24,\"tie_word_embeddings\":true}",
                &c) == REFIT_OK);
    CHECK(c.family == RF_FAM_QWEN2 && c.qkv_bias && !c.qk_norm && c.tie_embeddings &&
          c.head_dim == 64 && c.n_kv_heads == 2);

    /* qwen3: explicit head_dim independent of hidden/heads. */
    CHECK(parse("{\"model_type\":\"qwen3\",\"hidden_size\":1024,\"num_attention_heads\":16,"
                "\"num_key_value_heads\":8,\"head_dim\":128,\"intermediate_size\":3072,"
                "\"vocab_size\":151936,\"num_hidden_layers\":28,\"tie_word_embeddings\":false}",
                &c) == REFIT_OK);
    CHECK(c.family == RF_FAM_QWEN3 && c.qk_norm && !c.qkv_bias && c.head_dim == 128);

    /* head_dim given while hidden % heads != 0 is fine. */
    CHECK(parse("{\"model_type\":\"llama\",\"hidden_size\":100,\"num_attention_heads\":3,"
                "\"head_dim\":32,\"intermediate_size\":8,\"vocab_size\":8,"
                "\"num_hidden_layers\":1}",
                &c) == REFIT_OK);
    CHECK(c.head_dim == 32);

    /* Caps are inclusive. */
    CHECK(parse("{\"model_type\":\"llama\",\"hidden_size\":2147483648,\"num_attention_heads\":"
                "16777216,\"intermediate_size\":1,\"vocab_size\":1,\"num_hidden_layers\":16777216}",
                &c) == REFIT_OK);
    rf_err_clear();
}

static void test_invalid(void) {
    BAD("", REFIT_ERR_FORMAT, "ckpt/config.json: byte 0: invalid JSON");
    BAD("{\"model_type\":", REFIT_ERR_FORMAT, "ckpt/config.json: byte 14: invalid JSON");
    BAD("[1]", REFIT_ERR_FORMAT, "ckpt/config.json: top level is not a JSON object");
    BAD("{\"model_type\":\"llama\",\"model_type\":\"llama\"}", REFIT_ERR_FORMAT,
        "duplicate object key");
    BAD("{" LLAMA_FIELDS "}", REFIT_ERR_FORMAT, "ckpt/config.json: field model_type missing");
    BAD("{\"model_type\":7," LLAMA_FIELDS "}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field model_type must be a string");
    BAD("{\"model_type\":\"gpt2\"," LLAMA_FIELDS "}", REFIT_ERR_UNSUPPORTED,
        "ckpt/config.json: model_type 'gpt2' is not supported (llama, mistral, qwen2, qwen3)");
    BAD("{\"model_type\":\"Llama\"," LLAMA_FIELDS "}", REFIT_ERR_UNSUPPORTED, "model_type 'Llama'");

    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"intermediate_size\":11008,"
        "\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "ckpt/config.json: field num_attention_heads missing");
    BAD("{\"model_type\":\"llama\",\"num_attention_heads\":32,\"intermediate_size\":11008,"
        "\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field hidden_size missing");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_attention_heads\":32,"
        "\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field intermediate_size missing");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field vocab_size missing");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"vocab_size\":32000}",
        REFIT_ERR_FORMAT, "field num_hidden_layers missing");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":null,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field hidden_size missing");

    BAD("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"num_key_value_heads\":0}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field num_key_value_heads must be a positive integer");
    BAD("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"num_key_value_heads\":-8}", REFIT_ERR_FORMAT,
        "field num_key_value_heads must be a positive integer");
    BAD("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"head_dim\":\"128\"}", REFIT_ERR_FORMAT,
        "field head_dim must be a positive integer");
    BAD("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"head_dim\":128.0}", REFIT_ERR_FORMAT,
        "field head_dim must be a positive integer");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":true,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field hidden_size must be a positive integer");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":2147483649,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"vocab_size\":32000,\"num_hidden_layers\":32}",
        REFIT_ERR_FORMAT, "field hidden_size = 2147483649 exceeds limit 2147483648");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_attention_heads\":32,"
        "\"intermediate_size\":11008,\"vocab_size\":32000,\"num_hidden_layers\":16777217}",
        REFIT_ERR_FORMAT, "field num_hidden_layers = 16777217 exceeds limit 16777216");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_attention_heads\":32,"
        "\"intermediate_size\":99999999999999999999,\"vocab_size\":32000,\"num_hidden_layers\":1}",
        REFIT_ERR_FORMAT, "invalid JSON: too big integer");
    BAD("{\"model_type\":\"llama\",\"hidden_size\":100,\"num_attention_heads\":3,"
        "\"intermediate_size\":8,\"vocab_size\":8,\"num_hidden_layers\":1}",
        REFIT_ERR_FORMAT,
        "ckpt/config.json: field head_dim missing and hidden_size 100 is not divisible by "
        "num_attention_heads 3");
    BAD("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"tie_word_embeddings\":1}", REFIT_ERR_FORMAT,
        "field tie_word_embeddings must be true or false");
}

static void test_load(void) {
    char dir[] = "/tmp/rf_test_cfg_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rf_model_config_t c;
    char want[300];
    snprintf(want, sizeof want, "%s: open: No such file or directory", path);
    refit_status st = rf_cfg_load(path, &c);
    CHECK(st == REFIT_ERR_IO && strstr(rf_err_msg(), want));
    rf_err_clear();

    FILE *fp = fopen(path, "w");
    fputs("{\"model_type\":\"qwen2\"," LLAMA_FIELDS ",\"num_key_value_heads\":4}\n", fp);
    fclose(fp);
    CHECK(rf_cfg_load(path, &c) == REFIT_OK && c.family == RF_FAM_QWEN2 && c.n_kv_heads == 4);

    fp = fopen(path, "w");
    fputs("{\"model_type\":\"bert\"}", fp);
    fclose(fp);
    snprintf(want, sizeof want, "%s: model_type 'bert' is not supported", path);
    st = rf_cfg_load(path, &c);
    CHECK(st == REFIT_ERR_UNSUPPORTED && strstr(rf_err_msg(), want));
    rf_err_clear();

    st = rf_cfg_load(dir, &c);
    CHECK(st == REFIT_ERR_IO && strstr(rf_err_msg(), "not a regular file"));
    rf_err_clear();
    unlink(path);
    if (rmdir(dir) != 0) {
        fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
        failures++;
    }
}

int main(void) {
    test_valid();
    test_invalid();
    test_load();
    if (failures) {
        fprintf(stderr, "test_config: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_config: ok\n");
    return 0;
}
