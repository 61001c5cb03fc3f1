/* Hugging Face model directory configuration: config.json (model_type
 * qwen2 or llama) and generation_config.json. */
#ifndef LR_MODEL_CONFIG_H
#define LR_MODEL_CONFIG_H

#include <stdio.h>

#define LR_MAX_EOS 8

typedef enum { ROPE_DEFAULT = 0, ROPE_LLAMA3, ROPE_LINEAR } lr_rope_type;

typedef struct {
    char model_type[16];       /* "qwen2" | "llama" */
    int hidden_size;           /* d */
    int n_layers;              /* num_hidden_layers */
    int n_heads;               /* num_attention_heads */
    int n_kv_heads;            /* num_key_value_heads (defaults to n_heads) */
    int head_dim;              /* "head_dim" key, else hidden_size / n_heads */
    int intermediate_size;
    int vocab_size;
    int max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    lr_rope_type rope_type;
    double rope_factor;                /* linear / llama3 */
    double rope_low_freq_factor;       /* llama3 */
    double rope_high_freq_factor;      /* llama3 */
    int rope_original_max_position;    /* llama3 original_max_position_embeddings */
    int tie_word_embeddings;
    int attention_bias;  /* q/k/v bias: qwen2 always 1; llama "attention_bias" (also o_proj bias) */
    int o_proj_bias;     /* llama with attention_bias=true */
    int mlp_bias;        /* llama "mlp_bias" */
    char hidden_act[16]; /* must be "silu" */
    char torch_dtype[16];
    int bos_token_id;    /* -1 when absent/null */
    int n_eos;
    int eos_token_ids[LR_MAX_EOS];
} lr_model_config;

typedef struct {
    int present;          /* generation_config.json existed */
    int bos_token_id;     /* -1 when absent */
    int pad_token_id;     /* -1 when absent */
    int n_eos;
    int eos_token_ids[LR_MAX_EOS];
    int do_sample;
    double temperature, top_p;
    int top_k;
    double repetition_penalty;
    int max_new_tokens;   /* -1 when absent */
} lr_generation_config;

/* Parses and validates a config.json. 0 ok, else -1 + lr_error naming the
 * file and the key. */
int model_config_load(lr_model_config *c, const char *path);
/* generation_config.json; a missing file is not an error (present = 0). */
int generation_config_load(lr_generation_config *g, const char *path);
/* Both from a model directory; the EOS list is the union of the
 * generation_config's and the config's. */
int model_config_load_dir(lr_model_config *c, lr_generation_config *g, const char *dir);
/* The resolved values as "key: value" lines (g may be NULL). */
void model_config_print(FILE *f, const lr_model_config *c, const lr_generation_config *g);

#endif
