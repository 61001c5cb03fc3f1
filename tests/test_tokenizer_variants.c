/* tokenizer.json features Qwen2 itself does not use, against HF: the Qwen2
 * tokenizer.json is patched (as tests/reference/make_tokenizer_goldens.py
 * patched it for HF) into merges written as "a b" strings, ignore_merges,
 * the GPT-2 ByteLevel regex with and without add_prefix_space, the Llama-3
 * split regex, a literal Split, and added tokens with lstrip / rstrip /
 * single_word / normalized flags. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

/* Kept in step with apply_patch() in make_tokenizer_goldens.py. */
static void apply_patch(cJSON *root, const cJSON *patch) {
    for (const cJSON *p = patch->child; p; p = p->next) {
        if (!strcmp(p->string, "merges_as_strings")) {
            cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "merges");
            for (cJSON *m = merges->child; m; m = m->next) {
                char buf[1024];
                snprintf(buf, sizeof buf, "%s %s", m->child->valuestring, m->child->next->valuestring);
                cJSON *s = cJSON_CreateString(buf);
                cJSON_ReplaceItemViaPointer(merges, m, s);
                m = s;
            }
        } else if (!strcmp(p->string, "model.ignore_merges")) {
            cJSON *model = cJSON_GetObjectItem(root, "model");
            cJSON_ReplaceItemInObject(model, "ignore_merges", cJSON_Duplicate(p, 1));
        } else if (!strcmp(p->string, "added_tokens_extra")) {
            cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
            for (const cJSON *a = p->child; a; a = a->next) cJSON_AddItemToArray(added, cJSON_Duplicate(a, 1));
        } else {
            cJSON_ReplaceItemInObject(root, p->string, cJSON_Duplicate(p, 1));
        }
    }
}

int main(void) {
    char *base_path = lr_path_join(tk_qwen2_dir(), "tokenizer.json");
    size_t len;
    char *text = lr_read_file(base_path, 1u << 30, &len);
    EXPECT(text != NULL, "%s", lr_error_msg());
    if (!text) return test_finish("test_tokenizer_variants");
    cJSON *base = cJSON_ParseWithLength(text, len);
    free(text);
    free(base_path);
    char *buf = tk_read_golden("variants.jsonl", &len);
    char *dir = tk_mkdtemp();
    char *out = lr_path_join(dir, "tokenizer.json");
    int variants = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *v = cJSON_Parse(line);
        const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
        cJSON *root = cJSON_Duplicate(base, 1);
        apply_patch(root, cJSON_GetObjectItem(v, "patch"));
        char *js = cJSON_PrintUnformatted(root);
        EXPECT(tk_write_file(out, js, strlen(js)) == 0, "cannot write %s", out);
        free(js);
        cJSON_Delete(root);
        lr_tokenizer *t = tokenizer_load_from(dir, "tokenizer.json");
        EXPECT(t != NULL, "variant %s does not load: %s", name, lr_error_msg());
        long cases = 0, bad = 0;
        for (const cJSON *c = t ? cJSON_GetObjectItem(v, "cases")->child : NULL; c; c = c->next, cases++) {
            size_t tn;
            const char *end;
            char *s = tk_parse_text(c->child->valuestring, &tn, &end);
            const cJSON *want = c->child->next;
            int32_t *got = NULL;
            long n = s ? tokenizer_encode(t, s, tn, &got) : -1;
            int same = n == cJSON_GetArraySize(want);
            long i = 0;
            for (const cJSON *w = want->child; same && w; w = w->next, i++) same = got[i] == (int32_t)w->valuedouble;
            if (!same && bad++ < 4) {
                fprintf(stderr, "variant %s: case %ld differs from HF\n", name, cases);
                if (s) tk_print_text("text", s, tn);
                if (n >= 0) tk_print_ids("ours", got, (size_t)n);
                char *w = cJSON_PrintUnformatted(want);
                fprintf(stderr, "    HF's: %.300s\n", w);
                free(w);
            }
            free(got);
            free(s);
        }
        printf("variant %-24s %4ld cases, %ld mismatches\n", name, cases, bad);
        EXPECT(bad == 0, "variant %s: %ld of %ld strings differ from HF", name, bad, cases);
        EXPECT(!t || cases > 100, "variant %s: only %ld cases", name, cases);
        tokenizer_free(t);
        cJSON_Delete(v);
        variants++;
        line = nl ? nl + 1 : buf + len;
    }
    EXPECT(variants >= 7, "only %d variants", variants);
    cJSON_Delete(base);
    free(buf);
    free(out);
    tk_rmtree(dir);
    free(dir);
    return test_finish("test_tokenizer_variants");
}
