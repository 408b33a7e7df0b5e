#include "core/model/dropout_kernel.h"

#include <algorithm>

namespace dgr::model {
namespace {

constexpr uint32_t kMultiplier0 = 0xD2511F53u;
constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;
constexpr int kRounds = 10;
constexpr int64_t kBlocks = kDropoutTile / 4;

// The ten rounds of Philox-4x32 on one counter (c0..c3) under key (k0, k1), in place. Inlined
// into the 64-lane loop below, which the compiler then vectorises.
inline __attribute__((always_inline)) void philox_rounds(uint32_t& c0, uint32_t& c1, uint32_t& c2,
                                                         uint32_t& c3, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < kRounds; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(kMultiplier0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMultiplier1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0, k1 += kWeyl1;
  }
}

// The words of the 64 blocks of tile `tile`: words[w * 64 + j] is word w of block j. Written as
// one loop over independent lanes so that the compiler vectorises it.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
void tile_words(int64_t tile, uint64_t key, uint32_t* __restrict words) {
  const auto first = static_cast<uint64_t>(tile) * kBlocks;
  for (int64_t j = 0; j < kBlocks; ++j) {
    const uint64_t block = first + static_cast<uint64_t>(j);
    uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
    uint32_t c2 = 0, c3 = 0;
    const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    philox_rounds(c0, c1, c2, c3, k0, k1);
    words[j] = c0;
    words[kBlocks + j] = c1;
    words[2 * kBlocks + j] = c2;
    words[3 * kBlocks + j] = c3;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
void apply_mask(const float* __restrict x, float* __restrict y, uint8_t* __restrict keep,
                const uint32_t* __restrict words, int64_t count, uint32_t threshold, float scale) {
  for (int64_t i = 0; i < count; ++i) {
    const bool kept = words[i] >= threshold;
    keep[i] = kept ? 1 : 0;
    y[i] = x[i] * (kept ? scale : 0.0f);
  }
}

}  // namespace

void philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  const uint32_t k0 = key[0], k1 = key[1];
  philox_rounds(c0, c1, c2, c3, k0, k1);
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

uint32_t dropout_word(uint64_t key, int64_t i) {
  const int64_t tile = i / kDropoutTile, within = i % kDropoutTile;
  const uint64_t block =
      static_cast<uint64_t>(tile) * kBlocks + static_cast<uint64_t>(within % kBlocks);
  const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0,
                               0};
  const uint32_t k[2] = {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)};
  uint32_t out[4];
  philox4x32(counter, k, out);
  return out[within / kBlocks];
}

void dropout_forward_kernel(const float* x, float* y, uint8_t* keep, int64_t n, int64_t tile_begin,
                            int64_t tile_end, uint64_t key, uint32_t threshold, float scale) {
  alignas(64) uint32_t words[kDropoutTile];
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    const int64_t base = tile * kDropoutTile;
    const int64_t count = std::min(kDropoutTile, n - base);
    if (count <= 0) break;
    tile_words(tile, key, words);
    apply_mask(x + base, y + base, keep + base, words, count, threshold, scale);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
void dropout_backward_kernel(const float* __restrict dy, const uint8_t* __restrict keep,
                             float* __restrict dx, int64_t begin, int64_t end, float scale) {
  for (int64_t i = begin; i < end; ++i)
    dx[i] = dy[i] * (keep[i] != 0 ? scale : 0.0f);
}

}  // namespace dgr::model
