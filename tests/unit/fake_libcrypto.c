/*
 * fake_libcrypto.c - a libcrypto.so.3 that misbehaves, for
 * test_page_cipher_fallback: it has the ten EVP functions the page cipher
 * resolves (storage/store_crypt_gcm.c) and every call succeeds, but the
 * "ciphertext" is the plaintext and the tag is zeros. The page cipher
 * must notice at load (its known-answer page) and use mbedTLS.
 */
#include <stdlib.h>
#include <string.h>

struct fake_ctx {
    int unused;
};

void *EVP_CIPHER_CTX_new(void);
void EVP_CIPHER_CTX_free(void *ctx);
const void *EVP_aes_256_gcm(void);
int EVP_EncryptInit_ex(void *ctx, const void *cipher, void *engine,
                       const unsigned char *key, const unsigned char *iv);
int EVP_EncryptUpdate(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
int EVP_EncryptFinal_ex(void *ctx, unsigned char *out, int *outl);
int EVP_DecryptInit_ex(void *ctx, const void *cipher, void *engine,
                       const unsigned char *key, const unsigned char *iv);
int EVP_DecryptUpdate(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
int EVP_DecryptFinal_ex(void *ctx, unsigned char *out, int *outl);
int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *ptr);

void *EVP_CIPHER_CTX_new(void)
{
    return calloc(1, sizeof(struct fake_ctx));
}

void EVP_CIPHER_CTX_free(void *ctx)
{
    free(ctx);
}

const void *EVP_aes_256_gcm(void)
{
    static const int cipher = 1;
    return &cipher;
}

int EVP_EncryptInit_ex(void *ctx, const void *cipher, void *engine,
                       const unsigned char *key, const unsigned char *iv)
{
    (void)ctx, (void)cipher, (void)engine, (void)key, (void)iv;
    return 1;
}

int EVP_EncryptUpdate(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl)
{
    (void)ctx;
    if (out && out != in)
        memmove(out, in, (size_t)inl);
    *outl = out ? inl : 0;
    return 1;
}

int EVP_EncryptFinal_ex(void *ctx, unsigned char *out, int *outl)
{
    (void)ctx, (void)out;
    *outl = 0;
    return 1;
}

int EVP_DecryptInit_ex(void *ctx, const void *cipher, void *engine,
                       const unsigned char *key, const unsigned char *iv)
{
    return EVP_EncryptInit_ex(ctx, cipher, engine, key, iv);
}

int EVP_DecryptUpdate(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl)
{
    return EVP_EncryptUpdate(ctx, out, outl, in, inl);
}

int EVP_DecryptFinal_ex(void *ctx, unsigned char *out, int *outl)
{
    return EVP_EncryptFinal_ex(ctx, out, outl);
}

int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *ptr)
{
    (void)ctx, (void)type;
    if (type == 0x10) /* GET_TAG */
        memset(ptr, 0, (size_t)arg);
    return 1;
}
