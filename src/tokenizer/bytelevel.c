#include "tokenizer/bytelevel.h"

#include <pthread.h>

#include "tokenizer/utf8.h"

static uint32_t g_char[256];
static int16_t g_byte[324]; /* the alphabet lies below U+0144 */
static char g_utf8[256][2];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    for (int i = 0; i < 324; i++) g_byte[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        g_char[b] = printable ? (uint32_t)b : (uint32_t)(256 + extra++);
        g_byte[g_char[b]] = (int16_t)b;
        char tmp[4];
        int k = lr_tok_utf8_put(g_char[b], tmp);
        g_utf8[b][0] = tmp[0];
        g_utf8[b][1] = k > 1 ? tmp[1] : 0;
    }
}

uint32_t lr_bytelevel_char(unsigned char b) {
    pthread_once(&g_once, init_tables);
    return g_char[b];
}

int lr_bytelevel_byte(uint32_t cp) {
    pthread_once(&g_once, init_tables);
    return cp < 324 ? g_byte[cp] : -1;
}

size_t lr_bytelevel_encode(const char *bytes, size_t n, char *out) {
    pthread_once(&g_once, init_tables);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *u = g_utf8[(unsigned char)bytes[i]];
        out[o++] = u[0];
        if (u[1]) out[o++] = u[1];
    }
    return o;
}

int lr_bytelevel_decode(const char *s, size_t n, char *out, size_t *out_len) {
    pthread_once(&g_once, init_tables);
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int k = lr_tok_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (k < 0) return -1;
        int b = cp < 324 ? g_byte[cp] : -1;
        if (b < 0) return -1;
        out[o++] = (char)b;
        i += (size_t)k;
    }
    *out_len = o;
    return 0;
}
