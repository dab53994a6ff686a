/* Known answers for the digest tests (host: tests/unit/test_digest.c, GPU:
 * tests/gpu/test_digest_cuda.c).
 *
 *  - XXH64's published sanity vectors: the hash of the first len bytes of
 *    xxHash's generated test buffer (rf_sanity_fill) at seed 0 and PRIME32
 *    (xxHash's cli/xsum_sanity_check.c), and further seed-0 lengths from its
 *    tests/sanity_test_vectors.h that reach every branch of the tail
 *    (8-, 4- and 1-byte steps) after one or more 32-byte stripes.
 *  - Digests (kernels/digest.h) of prefixes of the same buffer as printed by
 *    tests/ref/digest_ref.py, a pure-Python implementation of the written
 *    definition with XXH64 from the specification. */
#ifndef RF_TEST_DIGEST_VECTORS_H
#define RF_TEST_DIGEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#define RF_XXH_PRIME32 UINT64_C(2654435761)

static const struct {
    size_t len;
    uint64_t seed, hash;
} rf_xxh64_vectors[] = {
    {0, 0, UINT64_C(0xEF46DB3751D8E999)},
    {0, RF_XXH_PRIME32, UINT64_C(0xAC75FDA2929B17EF)},
    {1, 0, UINT64_C(0xE934A84ADB052768)},
    {1, RF_XXH_PRIME32, UINT64_C(0x5014607643A9B4C3)},
    {4, 0, UINT64_C(0x9136A0DCA57457EE)},
    {14, 0, UINT64_C(0x8282DCC4994E35C8)},
    {14, RF_XXH_PRIME32, UINT64_C(0xC3BD6BF63DEB6DF0)},
    {222, 0, UINT64_C(0xB641AE8CB691C174)},
    {222, RF_XXH_PRIME32, UINT64_C(0x20CB8AB7AE10C14A)},
    {2, 0, UINT64_C(0x5D48CD60A77E23FF)},
    {3, 0, UINT64_C(0xFF7E1959CB50794A)},
    {8, 0, UINT64_C(0xCDBCF538E71D1348)},
    {9, 0, UINT64_C(0x554B1AE991EDA6B6)},
    {16, 0, UINT64_C(0x98C90B57FDFCB55C)},
    {17, 0, UINT64_C(0x0D39A2D051A30C2C)},
    {64, 0, UINT64_C(0xEF558F8ACAC2B5CD)},
    {128, 0, UINT64_C(0x90CA021457D96DC5)},
    {129, 0, UINT64_C(0x41C280132D697ABA)},
    {240, 0, UINT64_C(0xB81838D483BAEE53)},
    {241, 0, UINT64_C(0x95D76C8B4D8FC4D6)},
    {403, 0, UINT64_C(0xD99858FEE82283DF)},
};

static const struct {
    size_t len;
    uint64_t digest;
} rf_ref_digests[] = {
    {0u, UINT64_C(0x34C96ACDCADB1BBB)},     {1u, UINT64_C(0x19A7767F68D29295)},
    {31u, UINT64_C(0x57565948FA795B12)},    {32u, UINT64_C(0xC3677F00AB4082FE)},
    {65535u, UINT64_C(0x7BD548CFFA77FAD5)}, {65536u, UINT64_C(0x92AC9091A969783A)},
    {65537u, UINT64_C(0x50AA652730056BEC)}, {200707u, UINT64_C(0x228539A978DBDD44)},
};
/* param_digest(digest of 200707 bytes, digest of 1 byte), same script */
#define RF_REF_PARAM_DIGEST UINT64_C(0x4DE7412696A55ADD)
#define RF_REF_MAX_LEN 200707u

/* xxHash's test buffer: byte i is the top byte of PRIME32 * PRIME64^i (mod 2^64). */
static inline void rf_sanity_fill(uint8_t *b, size_t n) {
    uint64_t gen = RF_XXH_PRIME32;
    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(gen >> 56);
        gen *= UINT64_C(11400714785074694797);
    }
}

#endif
