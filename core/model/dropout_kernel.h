// Dropout masks from a counter-based generator (Philox-4x32-10, Salmon et al., SC 2011): the
// random word of element i is a pure function of (key, i), so a tensor's mask does not depend on
// how its elements are split over threads, and the ranges can be filled in any order. Torch-free
// and built for several instruction sets (target clones), so the loops vectorise on any x86-64.
//
// Guarantees: element i is kept iff its word >= threshold, i.e. with probability
// (2^32 - threshold) / 2^32; kept elements are multiplied by `scale`, dropped ones by 0 (so a NaN
// stays NaN, as with torch's x * mask). Integer arithmetic only up to that one float product, so
// every host computes the same bits.
#pragma once

#include <cstdint>

namespace dgr::model {

// Elements per tile: 64 Philox blocks of four words. Ranges handed to the kernels start on a
// tile boundary (the last tile may be partial).
inline constexpr int64_t kDropoutTile = 256;

// The four 32-bit words of Philox-4x32-10 for counter (c0, c1, c2, c3) and key (k0, k1).
void philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

// The random word of element i, as the kernels use it: word (i % 256) / 64 of the block with
// counter (i / 256 * 64 + i % 64) (low, high 32 bits; then 0, 0) under key (low, high 32 bits of
// `key`). For tests and for readers of the layout; the kernels compute 64 blocks at once.
uint32_t dropout_word(uint64_t key, int64_t i);

// Tiles [tile_begin, tile_end) of a tensor of n elements: keep[i] = word(i) >= threshold,
// y[i] = x[i] * (keep[i] ? scale : 0).
void dropout_forward_kernel(const float* x, float* y, uint8_t* keep, int64_t n, int64_t tile_begin,
                            int64_t tile_end, uint64_t key, uint32_t threshold, float scale);

// Elements [begin, end): dx[i] = dy[i] * (keep[i] ? scale : 0).
void dropout_backward_kernel(const float* dy, const uint8_t* keep, float* dx, int64_t begin,
                             int64_t end, float scale);

}  // namespace dgr::model
