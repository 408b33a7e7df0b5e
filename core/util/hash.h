// Content hashes for provenance: the resolved config, corpora, tokenizers and indexes are
// identified by the SHA-256 of their canonical bytes, so artifacts can be matched to the inputs
// that made them. Also the SplitMix64 mixer that seeded draws derive their seeds with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dgr {

// SplitMix64's finaliser of x + golden ratio: nearby inputs give unrelated outputs, the same on
// every platform (what every seeded draw of dgr derives its seeds and streams from).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A stream of SplitMix64 draws: the i-th draw is splitmix64(state + i). Keyed by (seed, stream,
// a, b), e.g. (run.seed, purpose, query, passage), a draw depends only on its own key, not on
// what was drawn before. Ours rather than std's distributions, which are implementation-defined.
class SplitMixStream {
 public:
  explicit SplitMixStream(uint64_t state) : state_(state) {}
  SplitMixStream(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
      : state_(splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ a) ^ b) {}

  uint64_t next() { return splitmix64(state_++); }
  // In [0, n) by modulo (0 when n is 0): bias below n / 2^64, fine for small n.
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  // Exactly uniform in [0, n), n > 0: rejects the lowest 2^64 mod n values.
  uint64_t uniform(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
      const uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }

 private:
  uint64_t state_;
};

// Incremental SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  void update(const void* data, size_t size);
  // Finishes and returns the 64-character lowercase hex digest. The object is spent afterwards.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// SHA-256 of a file's bytes, streamed; throws IoError naming the file.
std::string sha256_file(const std::string& path);

}  // namespace dgr
