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

#endif
