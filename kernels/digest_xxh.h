/* xxhash.h as kernels/digest.c and its test include it: linked against
 * libxxhash, or with the implementation compiled in from the header when
 * CMake found no library (RF_XXH_INLINE, see CMakeLists.txt). Either way the
 * state types are visible (XXH_STATIC_LINKING_ONLY) so they can be embedded. */
#ifndef RF_DIGEST_XXH_H
#define RF_DIGEST_XXH_H

#define XXH_STATIC_LINKING_ONLY
#ifdef RF_XXH_INLINE
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#endif
