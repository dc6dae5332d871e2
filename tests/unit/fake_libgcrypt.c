/*
 * fake_libgcrypt.c - a libgcrypt.so.20 that misbehaves, for
 * test_page_cipher_fallback: it has the ten functions the page cipher
 * resolves (storage/store_crypt_gcm.c) and every call succeeds, but the
 * "ciphertext" is the plaintext and the tag is zeros (and any tag
 * verifies). The page cipher must notice at load (its known-answer page)
 * and use mbedTLS.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *gcry_check_version(const char *req);
unsigned gcry_cipher_open(void **hd, int algo, int mode, unsigned flags);
void gcry_cipher_close(void *hd);
unsigned gcry_cipher_setkey(void *hd, const void *key, size_t n);
unsigned gcry_cipher_setiv(void *hd, const void *iv, size_t n);
unsigned gcry_cipher_authenticate(void *hd, const void *aad, size_t n);
unsigned gcry_cipher_encrypt(void *hd, void *out, size_t outn,
                             const void *in, size_t inn);
unsigned gcry_cipher_decrypt(void *hd, void *out, size_t outn,
                             const void *in, size_t inn);
unsigned gcry_cipher_gettag(void *hd, void *tag, size_t n);
unsigned gcry_cipher_checktag(void *hd, const void *tag, size_t n);

const char *gcry_check_version(const char *req)
{
    (void)req;
    return "1.10.1";
}

unsigned gcry_cipher_open(void **hd, int algo, int mode, unsigned flags)
{
    (void)algo, (void)mode, (void)flags;
    *hd = calloc(1, 16);
    return *hd ? 0 : 1;
}

void gcry_cipher_close(void *hd)
{
    free(hd);
}

unsigned gcry_cipher_setkey(void *hd, const void *key, size_t n)
{
    (void)hd, (void)key, (void)n;
    return 0;
}

unsigned gcry_cipher_setiv(void *hd, const void *iv, size_t n)
{
    (void)hd, (void)iv, (void)n;
    return 0;
}

unsigned gcry_cipher_authenticate(void *hd, const void *aad, size_t n)
{
    (void)hd, (void)aad, (void)n;
    return 0;
}

unsigned gcry_cipher_encrypt(void *hd, void *out, size_t outn,
                             const void *in, size_t inn)
{
    (void)hd, (void)outn;
    if (in && out != in)
        memmove(out, in, inn);
    return 0;
}

unsigned gcry_cipher_decrypt(void *hd, void *out, size_t outn,
                             const void *in, size_t inn)
{
    return gcry_cipher_encrypt(hd, out, outn, in, inn);
}

unsigned gcry_cipher_gettag(void *hd, void *tag, size_t n)
{
    (void)hd;
    memset(tag, 0, n);
    return 0;
}

unsigned gcry_cipher_checktag(void *hd, const void *tag, size_t n)
{
    (void)hd, (void)tag, (void)n;
    return 0;
}
