/* bf16 <-> fp32, shared by the quantization (kernels/quant.h includes this)
 * and the synthetic checkpoint writer: one rounding rule for both. */
#ifndef RF_BF16_H
#define RF_BF16_H

#include <stdint.h>
#include <string.h>

static inline float rf_bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = {.u = (uint32_t)b << 16};
    return v.f;
}

/* fp32 -> bf16, round to nearest even (NaN stays NaN, quieted). */
static inline uint16_t rf_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7FFFu + ((u >> 16) & 1u); /* RNE: ties go to the even upper half */
    return (uint16_t)(u >> 16);
}

/* fp16 -> fp32, exact (every fp16 value is an fp32 value; SPEC §1). */
static inline float rf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, u;
    if (exp == 0x1F) {
        u = sign | 0x7F800000u | (man << 13); /* inf, or NaN keeping its payload */
    } else if (exp != 0) {
        u = sign | ((exp + 112u) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        u = sign; /* signed zero */
    } else { /* subnormal: man * 2^-24, normalized */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Whether bf16 bits b are NaN or Inf. */
static inline int rf_bf16_nonfinite(uint16_t b) { return (b & 0x7F80u) == 0x7F80u; }

#endif
