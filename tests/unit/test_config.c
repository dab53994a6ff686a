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
        "ckpt/config.json: model_type 'gpt2' is not supported (llama, mistral, qwen2, qwen3, "
        "qwen3_moe, qwen2_moe, mixtral)");
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

/* SPEC §3a: the MoE families' fields, defaults and which layers hold experts. */
#define QWEN_MOE_FIELDS                                                                     \
    "\"hidden_size\":2048,\"num_attention_heads\":32,\"num_key_value_heads\":4,"             \
    "\"head_dim\":128,\"intermediate_size\":6144,\"vocab_size\":151936,"                    \
    "\"num_hidden_layers\":6,\"moe_intermediate_size\":768,\"num_experts_per_tok\":8,"       \
    "\"norm_topk_prob\":true"

static void test_moe(void) {
    rf_model_config_t c;
    /* qwen3_moe: num_experts, every layer MoE by default, q/k norm. */
    CHECK(parse("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":128}", &c) == REFIT_OK,
          "%s", rf_err_msg());
    CHECK(c.family == RF_FAM_QWEN3_MOE && c.moe && c.qk_norm && !c.qkv_bias && c.n_experts == 128 &&
          c.moe_inter == 768 && c.sparse_step == 1 && c.n_mlp_only == 0 && !strcmp(c.experts_field, "num_experts"));
    for (int l = 0; l < 6; l++) CHECK(rf_cfg_layer_is_moe(&c, l), "layer %d", l);
    CHECK(!rf_cfg_layer_is_moe(&c, 6) && !rf_cfg_layer_is_moe(&c, -1));

    /* num_local_experts when num_experts is absent (or null); mlp_only_layers
     * outside [0, layers) ignored, duplicates folded; decoder_sparse_step. */
    CHECK(parse("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":null,"
                "\"num_local_experts\":6,\"mlp_only_layers\":[4,1,9,-2,1],\"decoder_sparse_step\":2}",
                &c) == REFIT_OK, "%s", rf_err_msg());
    CHECK(c.n_experts == 6 && !strcmp(c.experts_field, "num_local_experts") && c.n_mlp_only == 2 &&
          c.mlp_only[0] == 1 && c.mlp_only[1] == 4 && c.sparse_step == 2);
    /* (l+1) % 2 == 0 and l not in {1, 4}: only layers 3 and 5 */
    for (int l = 0; l < 6; l++) CHECK(rf_cfg_layer_is_moe(&c, l) == (l == 3 || l == 5), "layer %d", l);

    /* E = 0 parses (the layout rejects it: E < tp); no layer is MoE. */
    CHECK(parse("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":0}", &c) == REFIT_OK);
    CHECK(c.moe && c.n_experts == 0 && !rf_cfg_layer_is_moe(&c, 0));

    /* qwen2_moe: qkv bias, shared expert size. */
    CHECK(parse("{\"model_type\":\"qwen2_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":60,"
                "\"shared_expert_intermediate_size\":5632}", &c) == REFIT_OK, "%s", rf_err_msg());
    CHECK(c.family == RF_FAM_QWEN2_MOE && c.qkv_bias && !c.qk_norm && c.shared_inter == 5632 && c.n_experts == 60);

    /* mixtral: num_local_experts first, the expert size is intermediate_size,
     * every layer MoE (mlp_only_layers means nothing to it). */
    CHECK(parse("{\"model_type\":\"mixtral\"," LLAMA_FIELDS ",\"num_key_value_heads\":8,"
                "\"num_local_experts\":8,\"num_experts\":3,\"mlp_only_layers\":[0]}", &c) == REFIT_OK,
          "%s", rf_err_msg());
    CHECK(c.family == RF_FAM_MIXTRAL && c.moe && c.n_experts == 8 && !strcmp(c.experts_field, "num_local_experts") &&
          c.moe_inter == 11008 && !c.qkv_bias && !c.qk_norm);
    CHECK(rf_cfg_layer_is_moe(&c, 0) && rf_cfg_layer_is_moe(&c, 31));
    CHECK(parse("{\"model_type\":\"mixtral\"," LLAMA_FIELDS ",\"num_experts\":4}", &c) == REFIT_OK &&
          c.n_experts == 4 && !strcmp(c.experts_field, "num_experts"));

    /* Dense families carry no MoE state. */
    CHECK(parse("{\"model_type\":\"llama\"," LLAMA_FIELDS ",\"num_experts\":8}", &c) == REFIT_OK &&
          !c.moe && c.n_experts == 0 && !rf_cfg_layer_is_moe(&c, 0));

    BAD("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS "}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field num_local_experts missing");
    BAD("{\"model_type\":\"mixtral\"," LLAMA_FIELDS "}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field num_experts missing");
    BAD("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":-1}", REFIT_ERR_FORMAT,
        "field num_experts must be a non-negative integer");
    BAD("{\"model_type\":\"qwen3_moe\"," LLAMA_FIELDS ",\"num_experts\":8}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field moe_intermediate_size missing");
    BAD("{\"model_type\":\"qwen2_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":8}", REFIT_ERR_FORMAT,
        "ckpt/config.json: field shared_expert_intermediate_size missing");
    BAD("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":8,\"mlp_only_layers\":3}",
        REFIT_ERR_FORMAT, "ckpt/config.json: field mlp_only_layers must be a list of integers");
    BAD("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":8,\"mlp_only_layers\":[0,\"1\"]}",
        REFIT_ERR_FORMAT, "ckpt/config.json: field mlp_only_layers[1] must be an integer");
    BAD("{\"model_type\":\"qwen3_moe\"," QWEN_MOE_FIELDS ",\"num_experts\":8,\"decoder_sparse_step\":0}",
        REFIT_ERR_FORMAT, "ckpt/config.json: field decoder_sparse_step must be a positive integer");
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
    test_moe();
    test_load();
    if (failures) {
        fprintf(stderr, "test_config: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_config: ok\n");
    return 0;
}
