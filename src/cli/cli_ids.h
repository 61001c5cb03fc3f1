/* Token-id lists typed by users: "1 2 3" / "1,2,3" lines and JSON arrays.
 * Shared by tokenize/detokenize, generate and logprobs so that every
 * command accepts and rejects the same spellings with the same messages. */
#ifndef LR_CLI_IDS_H
#define LR_CLI_IDS_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* Space/tab/comma separated non-negative ids; n_tokens > 0 also bounds them
 * to [0, n_tokens). Exits 2 naming `where` on a bad entry. Fresh array. */
int32_t *cli_ids_from_text(const char *s, const char *where, int n_tokens, int *n_out);
/* A JSON array of non-negative integers ("ids" field). Exits 2 naming
 * `where` on a bad entry. Fresh array. */
int32_t *cli_ids_from_json(const cJSON *a, const char *where, int *n_out);

#endif
