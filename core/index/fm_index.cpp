// FmIndex over sdsl-lite 2.1.
//
//   csa_wt<wt_hutu_int<bit_vector, rank_support_v<>,
//                      select_support_scan<1>, select_support_scan<0>>,
//          32, 32, text_order_sa_sampling<sd_vector<>>,
//          text_order_isa_sampling_support<inv_perm_support<8>>>
//
// Measured with bench/index_bench.cpp (Zipf(1.0) ids over a 50k vocabulary, ~58-token passages
// in two segments; 2-core VM, no -mpopcnt), against SEAL's csa_wt<wt_int<>> on the same text:
//
//                                   this index        SEAL's configuration
//   bytes per token, 10M / 50M      2.40 / 2.00       3.24 / 3.24
//   extend, 10M / 50M               2.2 / 2.5 us      3.5 / 4.4 us
//   next_tokens, 1-token prefix     1.0 / 3.3 ms      1.5 / 3.5 ms
//   next_tokens, 2-token prefix     0.10 / 0.53 ms    0.19 / 0.67 ms
//   next_tokens, 3-token prefix     10 / 33 us        16 / 53 us
//   next_tokens, empty prefix       0.26 / 0.31 ms    2.3 / 6.2 ms
//
// Format 2 added inverse-SA samples for passage_segments: 2.416 → 2.431 bytes per token at 10M
// (+0.6%, 146 KB), and reading one ~58-token, two-segment passage back takes ~165 us at 10M
// (a small program over the same corpus, 20k random passages; same 2-core VM).
//
// - Hu-Tucker shaped wavelet tree instead of SEAL's balanced wt_int<>: the BWT costs about
//   n·H0 bits instead of n·⌈log σ⌉, and a rank walks ~H0 levels with one bit-vector rank per level
//   (wt_int does three or four per level: it keeps no node boundaries). The shape is alphabetic,
//   so interval_symbols lists successors in ascending order and next_tokens needs no sort. Its
//   node tables cost ~100 bytes per distinct token (4.5 MB for a 45k vocabulary): 6.5 bytes per
//   token on a 1M-token shard, a negligible share from ~10M tokens on.
// - No select support: none of these calls selects (wt_int<>'s select_support_mcl pair is 15% of
//   SEAL's index); the scan types cost no space.
// - rank_support_v (25% over the bits), not rank_support_v5 (6%): v5 saves 0.26 bytes per token
//   but makes next_tokens up to 1.5x slower; bit_vector_il<512> sits in between on both.
// - SA samples in text order every 32 positions, marked in an sd_vector: a locate walks at most
//   31 LF steps, half of SA-order sampling's expected 32 at the same space (~35 us per located
//   occurrence at 10M tokens). Locate serves only passages(), for keys with few occurrences.
// - Inverse-SA samples reuse the SA samples (text_order_isa_sampling_support): the SA sample
//   of text position 32k is found as the inverse permutation of the samples' text order
//   (inv_perm_support<8>: one back pointer per 8 samples, ≤ 8 steps per access) followed by a
//   select on the sd_vector marking the sampled rows (select_support_sd, no space). They cost
//   ~0.015 bytes per token, where isa_sampling<> at density 32 would cost ~0.1 (one
//   ⌈log n⌉-bit value per 32 positions). passage_segments uses one ISA access (≤ 32 LF steps
//   from the next sample) and then one LF step per symbol of the passage.
// - The empty prefix's successors come from the C array, not from the tree.
//
// Passage mapping: an sd_vector over text positions marks the first position of every passage
// that has at least one segment, and an sd_vector over passage indices marks those passages;
// position → rank in the first → select in the second, and back (passage → its text range) by
// rank in the second → select in the first. sd_vector's rank and select add no space.
//
// File layout (little-endian, format version 2; version 1 — no inverse-SA samples — is refused
// with a request to rebuild): a 104-byte header — magic "DGRFMIDX", u32 format version,
// u32 passages, u64 tokens, u64 text length, u64 payload bytes, then the SHA-256 (64 hex chars)
// of header bytes [0, 40) followed by the payload — and the payload: the sdsl serialisation of
// the CSA, the passage-start vector and the passages-with-text vector, then the token alphabet
// (u64 count, u32 ids). The checksum is verified before any byte reaches sdsl, whose loaders
// trust their input.
#include "core/index/fm_index.h"

#include <glog/logging.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <sdsl/sd_vector.hpp>
#include <sdsl/suffix_arrays.hpp>
#include <sdsl/wavelet_trees.hpp>
#include <streambuf>
#include <utility>

#include "core/util/error.h"
#include "core/util/hash.h"

namespace dgr::index {
namespace {

using WaveletTree = sdsl::wt_hutu_int<sdsl::bit_vector, sdsl::rank_support_v<>,
                                      sdsl::select_support_scan<1>, sdsl::select_support_scan<0>>;
constexpr uint32_t kSaSampleDensity = 32;
// text_order_isa_sampling_support derives inverse-SA samples from the SA samples, so the two
// densities must be equal (sdsl static_asserts it).
constexpr uint32_t kIsaSampleDensity = kSaSampleDensity;
using Csa = sdsl::csa_wt<WaveletTree, kSaSampleDensity, kIsaSampleDensity,
                         sdsl::text_order_sa_sampling<sdsl::sd_vector<>>,
                         sdsl::text_order_isa_sampling_support<>>;
using SparseBits = sdsl::sd_vector<>;

constexpr uint64_t kTerminator = 0;
constexpr uint64_t kSeparator = 1;
constexpr uint64_t kShift = 2;
constexpr TokenId kMaxToken = std::numeric_limits<TokenId>::max() - 2;

constexpr char kMagic[8] = {'D', 'G', 'R', 'F', 'M', 'I', 'D', 'X'};
// 2: inverse-SA samples (text_order_isa_sampling_support) for passage_segments.
constexpr uint32_t kFormatVersion = 2;
constexpr size_t kHashedHeaderBytes = 40;
constexpr size_t kHeaderBytes = kHashedHeaderBytes + 64;

// sdsl's in-memory construction goes through process-global temporary "RAM files" named by a
// non-atomic counter; one build at a time keeps their names apart.
std::mutex& construction_mutex() {
  static std::mutex mutex;
  return mutex;
}

// An output buffer that appends to a string (no copy when the bytes are taken).
class StringSink : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) out_.push_back(static_cast<char>(ch));
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

// An input buffer over bytes already in memory.
class MemorySource : public std::streambuf {
 public:
  MemorySource(const char* data, size_t size) {
    char* begin = const_cast<char*>(data);
    setg(begin, begin, begin + size);
  }
  size_t consumed() const { return static_cast<size_t>(gptr() - eback()); }
};

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

// Reads exactly `size` payload bytes; a stream that ends early throws DataError.
std::string read_payload(std::istream& in, uint64_t size, const std::string& source) {
  auto truncated = [&](uint64_t got) {
    return DataError(located(source, 0,
                             "truncated FM-index: payload of " + std::to_string(size) +
                                 " bytes, stream ends after " + std::to_string(got)));
  };
  // On a seekable stream, check the length first so that a corrupt size allocates nothing.
  const std::streampos here = in.tellg();
  if (here != std::streampos(-1)) {
    in.seekg(0, std::ios::end);
    const std::streampos end = in.tellg();
    in.clear();
    in.seekg(here);
    if (end != std::streampos(-1) && end >= here && in) {
      const uint64_t left = static_cast<uint64_t>(end - here);
      if (left < size) throw truncated(left);
    }
  }
  std::string payload;
  constexpr uint64_t kChunk = uint64_t{1} << 26;
  while (payload.size() < size) {
    const uint64_t chunk = std::min<uint64_t>(kChunk, size - payload.size());
    const size_t old = payload.size();
    payload.resize(old + chunk);
    in.read(&payload[old], static_cast<std::streamsize>(chunk));
    const uint64_t got = static_cast<uint64_t>(in.gcount());
    if (got < chunk) throw truncated(old + got);
  }
  return payload;
}

}  // namespace

struct FmIndex::Impl {
  // Never copied or moved (Impl lives behind a unique_ptr): csa_wt's move assignment would leave
  // the inverse-SA support pointing into the moved-from SA samples. Built by swap, loaded in
  // place.
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Csa csa;
  // Over text positions [0, csa.size()): 1 at the first position of each passage with text.
  SparseBits passage_starts;
  SparseBits::rank_1_type passage_starts_rank;
  SparseBits::select_1_type passage_starts_select;
  // Over passage indices [0, num_passages): 1 for each passage with at least one segment.
  SparseBits text_passages;
  SparseBits::rank_1_type text_passages_rank;
  SparseBits::select_1_type text_passages_select;
  // The corpus's distinct token ids, ascending: text symbol 2 + r stands for alphabet[r].
  std::vector<TokenId> alphabet;
  uint32_t num_passages = 0;
  uint64_t num_tokens = 0;

  // The text symbol of a token id, or 0 when the id does not occur.
  uint64_t symbol_of(TokenId token) const {
    auto it = std::lower_bound(alphabet.begin(), alphabet.end(), token);
    if (it == alphabet.end() || *it != token) return kTerminator;
    return static_cast<uint64_t>(it - alphabet.begin()) + kShift;
  }

  void init_supports() {
    // sd_vector's rank and select read the vector's own arrays: they add no space.
    passage_starts_rank.set_vector(&passage_starts);
    passage_starts_select.set_vector(&passage_starts);
    text_passages_rank.set_vector(&text_passages);
    text_passages_select.set_vector(&text_passages);
  }

  // The local passage of a text position that is not the terminator.
  uint32_t passage_of(uint64_t position) const {
    const uint64_t k = passage_starts_rank(position + 1);  // passages with text starting <= it
    return static_cast<uint32_t>(text_passages_select(k));
  }

  uint64_t symbol_count(uint64_t symbol) const {
    const uint64_t cc = csa.char2comp[symbol];
    if (cc == 0 && symbol != kTerminator) return 0;
    return csa.C[cc + 1] - csa.C[cc];
  }
};

// A default index is the index of an empty corpus: the text is sdsl's terminator alone.
FmIndex::FmIndex() : FmIndex(build({})) {}

FmIndex::FmIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FmIndex::~FmIndex() = default;
FmIndex::FmIndex(FmIndex&&) noexcept = default;
FmIndex& FmIndex::operator=(FmIndex&&) noexcept = default;

FmIndex FmIndex::build(const std::vector<PassageSegments>& passages) {
  if (passages.size() > std::numeric_limits<uint32_t>::max()) {
    throw DataError("FM-index: " + std::to_string(passages.size()) +
                    " passages exceed the 2^32 - 1 one index can hold");
  }
  uint64_t text_length = 0;
  uint64_t num_tokens = 0;
  TokenId max_token = -1;
  for (size_t p = 0; p < passages.size(); ++p) {
    for (const auto& segment : passages[p]) {
      for (TokenId t : segment) {
        if (t < 0 || t > kMaxToken) {
          throw DataError("FM-index: passage " + std::to_string(p) + " has token id " +
                          std::to_string(t) + " outside [0, " + std::to_string(kMaxToken) + "]");
        }
        max_token = std::max(max_token, t);
      }
      num_tokens += segment.size();
      text_length += segment.size() + 1;
    }
  }

  // The alphabet, and a direct id → symbol table when the ids are small enough for one.
  std::vector<TokenId> alphabet;
  std::vector<uint32_t> symbol_table;
  constexpr TokenId kMaxTableId = (1 << 24) - 1;
  if (max_token <= kMaxTableId) {
    symbol_table.assign(static_cast<size_t>(max_token) + 1, 0);
    for (const auto& passage : passages) {
      for (const auto& segment : passage) {
        for (TokenId t : segment) {
          symbol_table[static_cast<size_t>(t)] = 1;
        }
      }
    }
    for (size_t t = 0; t < symbol_table.size(); ++t) {
      if (symbol_table[t] == 0) continue;
      symbol_table[t] = static_cast<uint32_t>(alphabet.size() + kShift);
      alphabet.push_back(static_cast<TokenId>(t));
    }
  } else {
    alphabet.reserve(num_tokens);
    for (const auto& passage : passages) {
      for (const auto& segment : passage) {
        alphabet.insert(alphabet.end(), segment.begin(), segment.end());
      }
    }
    std::sort(alphabet.begin(), alphabet.end());
    alphabet.erase(std::unique(alphabet.begin(), alphabet.end()), alphabet.end());
    alphabet.shrink_to_fit();
  }
  auto owned = std::make_unique<Impl>();
  Impl& impl = *owned;
  impl.alphabet = std::move(alphabet);

  // The text: per segment its tokens reversed, as symbols, then the separator.
  const uint64_t max_symbol = kSeparator + impl.alphabet.size();
  sdsl::int_vector<> text(text_length, 0, static_cast<uint8_t>(sdsl::bits::hi(max_symbol) + 1));
  sdsl::bit_vector starts(text_length + 1, 0);  // + sdsl's terminator
  sdsl::bit_vector with_text(passages.size(), 0);
  uint64_t pos = 0;
  for (size_t p = 0; p < passages.size(); ++p) {
    if (passages[p].empty()) continue;
    starts[pos] = 1;
    with_text[p] = 1;
    for (const auto& segment : passages[p]) {
      for (auto it = segment.rbegin(); it != segment.rend(); ++it) {
        text[pos++] =
            symbol_table.empty() ? impl.symbol_of(*it) : symbol_table[static_cast<size_t>(*it)];
      }
      text[pos++] = kSeparator;
    }
  }
  symbol_table = {};

  {
    std::lock_guard<std::mutex> lock(construction_mutex());
    sdsl::construct_im(impl.csa, std::move(text), 0);
  }
  impl.passage_starts = SparseBits(starts);
  impl.text_passages = SparseBits(with_text);
  impl.init_supports();
  impl.num_passages = static_cast<uint32_t>(passages.size());
  impl.num_tokens = num_tokens;
  return FmIndex(std::move(owned));
}

SaRange FmIndex::full_range() const {
  return SaRange{0, impl_->csa.size()};
}

SaRange FmIndex::extend(SaRange range, TokenId token) const {
  if (range.empty() || token < 0 || token > kMaxToken) return SaRange{};
  const Csa& csa = impl_->csa;
  CHECK_LE(range.end, csa.size()) << "SaRange from another index";
  const uint64_t symbol = impl_->symbol_of(token);
  if (symbol == kTerminator) return SaRange{};  // absent from the corpus
  const uint64_t cc = csa.char2comp[symbol];
  const uint64_t first = csa.C[cc];
  SaRange next;
  if (range.begin == 0 && range.end == csa.size()) {
    next = SaRange{first, csa.C[cc + 1]};
  } else {
    next = SaRange{first + csa.wavelet_tree.rank(range.begin, symbol),
                   first + csa.wavelet_tree.rank(range.end, symbol)};
  }
  return next.empty() ? SaRange{} : next;
}

SaRange FmIndex::find(const std::vector<TokenId>& ngram) const {
  SaRange range = full_range();
  for (TokenId t : ngram) {
    range = extend(range, t);
    if (range.empty()) break;
  }
  return range;
}

void FmIndex::next_tokens(SaRange range, std::vector<TokenId>& tokens,
                          std::vector<uint64_t>& counts) const {
  tokens.clear();
  counts.clear();
  if (range.empty()) return;
  const Csa& csa = impl_->csa;
  CHECK_LE(range.end, csa.size()) << "SaRange from another index";
  if (range.begin == 0 && range.end == csa.size()) {
    // The empty prefix: every token, counted by the C array, without walking the tree.
    const uint64_t first = csa.sigma - impl_->alphabet.size();  // comp of the first token
    tokens.assign(impl_->alphabet.begin(), impl_->alphabet.end());
    counts.resize(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      counts[i] = csa.C[first + i + 1] - csa.C[first + i];
    }
    return;
  }
  // interval_symbols writes up to min(σ, range size) entries, and 2 for a range of size 2.
  thread_local std::vector<uint64_t> symbols, rank_begin, rank_end;
  const size_t room =
      std::max<size_t>(2, std::min<uint64_t>(csa.wavelet_tree.sigma, range.end - range.begin));
  if (symbols.size() < room) {
    symbols.resize(room);
    rank_begin.resize(room);
    rank_end.resize(room);
  }
  uint64_t k = 0;
  csa.wavelet_tree.interval_symbols(range.begin, range.end, k, symbols, rank_begin, rank_end);
  tokens.reserve(k);
  counts.reserve(k);
  for (uint64_t i = 0; i < k; ++i) {
    if (symbols[i] < kShift) continue;  // terminator, separator
    tokens.push_back(impl_->alphabet[symbols[i] - kShift]);
    counts.push_back(rank_end[i] - rank_begin[i]);
  }
}

uint64_t FmIndex::count(const std::vector<TokenId>& ngram) const {
  return find(ngram).count();
}

std::vector<uint32_t> FmIndex::passages(const std::vector<TokenId>& ngram, size_t limit) const {
  return passages(find(ngram), limit);
}

std::vector<uint32_t> FmIndex::passages(SaRange range, size_t limit) const {
  std::vector<uint32_t> out;
  if (range.empty() || limit == 0) return out;
  const Impl& impl = *impl_;
  const uint64_t n = impl.csa.size();
  CHECK_LE(range.end, n) << "SaRange from another index";
  if (range.begin == 0 && range.end == n) {
    // Every position: every passage with text, without locating each suffix.
    const uint64_t with_text = impl.passage_starts_rank(n);
    out.reserve(std::min<uint64_t>(with_text, limit));
    for (uint64_t k = 1; k <= with_text && out.size() < limit; ++k) {
      out.push_back(static_cast<uint32_t>(impl.text_passages_select(k)));
    }
    return out;
  }
  out.reserve(range.end - range.begin);
  for (uint64_t i = range.begin; i < range.end; ++i) {
    const uint64_t position = impl.csa[i];
    if (position + 1 == n) continue;  // the terminator's suffix
    out.push_back(impl.passage_of(position));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

PassageSegments FmIndex::passage_segments(uint32_t local_passage) const {
  const Impl& impl = *impl_;
  CHECK_LT(local_passage, impl.num_passages) << "passage of another index";
  PassageSegments segments;
  if (!impl.text_passages[local_passage]) return segments;  // built with no segments
  // The passage's text is [begin, end): its segments reversed, each followed by a separator;
  // `end` is the next passage's first position or the terminator's.
  const uint64_t n = impl.csa.size();
  const uint64_t k = impl.text_passages_rank(local_passage);  // passages with text before it
  const uint64_t begin = impl.passage_starts_select(k + 1);
  const uint64_t end =
      k + 1 < impl.passage_starts_rank(n) ? impl.passage_starts_select(k + 2) : n - 1;
  // Walk LF backwards from the suffix at `end`: BWT[isa[i]] = T[i - 1] and LF(isa[i]) = isa[i-1].
  // Read backwards, a reversed segment comes out in natural order, so each segment is
  // collected as is and only the order of the segments is reversed at the end. One inverse-SA
  // access (≤ 32 LF steps from the next text-order sample), then one inverse_select per symbol.
  const Csa& csa = impl.csa;
  uint64_t row = csa.isa[end];
  std::vector<TokenId> segment;
  for (uint64_t i = end; i > begin; --i) {
    const auto rank_symbol = csa.wavelet_tree.inverse_select(row);
    const uint64_t symbol = rank_symbol.second;
    row = csa.C[csa.char2comp[symbol]] + rank_symbol.first;
    if (symbol == kSeparator) {
      if (i != end) segments.push_back(std::move(segment));
      segment.clear();
    } else {
      CHECK_GE(symbol, kShift) << "terminator inside passage " << local_passage;
      segment.push_back(impl.alphabet[symbol - kShift]);
    }
  }
  segments.push_back(std::move(segment));
  std::reverse(segments.begin(), segments.end());
  return segments;
}

uint32_t FmIndex::num_passages() const {
  return impl_->num_passages;
}

uint64_t FmIndex::num_tokens() const {
  return impl_->num_tokens;
}

uint64_t FmIndex::size_in_bytes() const {
  return sdsl::size_in_bytes(impl_->csa) + sdsl::size_in_bytes(impl_->passage_starts) +
         sdsl::size_in_bytes(impl_->text_passages) + impl_->alphabet.size() * sizeof(TokenId) +
         sizeof(Impl);
}

void FmIndex::save(std::ostream& out) const {
  const Impl& impl = *impl_;
  std::string payload;
  {
    StringSink sink(payload);
    std::ostream stream(&sink);
    impl.csa.serialize(stream);
    impl.passage_starts.serialize(stream);
    impl.text_passages.serialize(stream);
  }
  const size_t alphabet_at = payload.size();
  payload.resize(alphabet_at + 8 + 4 * impl.alphabet.size());
  put_u64(&payload[alphabet_at], impl.alphabet.size());
  for (size_t i = 0; i < impl.alphabet.size(); ++i) {
    put_u32(&payload[alphabet_at + 8 + 4 * i], static_cast<uint32_t>(impl.alphabet[i]));
  }
  std::array<char, kHeaderBytes> header{};
  std::memcpy(header.data(), kMagic, sizeof(kMagic));
  put_u32(header.data() + 8, kFormatVersion);
  put_u32(header.data() + 12, impl.num_passages);
  put_u64(header.data() + 16, impl.num_tokens);
  put_u64(header.data() + 24, impl.csa.size());
  put_u64(header.data() + 32, payload.size());
  Sha256 hash;
  hash.update(header.data(), kHashedHeaderBytes);
  hash.update(payload);
  const std::string digest = hash.hex_digest();
  std::memcpy(header.data() + kHashedHeaderBytes, digest.data(), 64);
  out.write(header.data(), header.size());
  out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  if (!out) throw IoError("FM-index: writing " + std::to_string(payload.size()) + " bytes failed");
}

FmIndex FmIndex::load(std::istream& in, const std::string& source) {
  auto corrupt = [&](const std::string& what) {
    return DataError(located(source, 0, "corrupt FM-index: " + what));
  };
  std::array<char, kHeaderBytes> header{};
  in.read(header.data(), header.size());
  if (static_cast<size_t>(in.gcount()) < header.size()) {
    throw DataError(located(source, 0,
                            "truncated FM-index: header of " + std::to_string(kHeaderBytes) +
                                " bytes, stream ends after " + std::to_string(in.gcount())));
  }
  if (std::memcmp(header.data(), kMagic, sizeof(kMagic)) != 0) {
    throw corrupt("not an FM-index (bad magic)");
  }
  const uint32_t version = get_u32(header.data() + 8);
  if (version != kFormatVersion) {
    throw DataError(located(
        source, 0,
        "FM-index format version " + std::to_string(version) + ", this build reads version " +
            std::to_string(kFormatVersion) +
            (version < kFormatVersion ? " (older indexes lack the samples passage_segments needs)"
                                      : " (written by a newer build)") +
            ": rebuild the index"));
  }
  const uint32_t num_passages = get_u32(header.data() + 12);
  const uint64_t num_tokens = get_u64(header.data() + 16);
  const uint64_t text_length = get_u64(header.data() + 24);
  const uint64_t payload_bytes = get_u64(header.data() + 32);
  const std::string payload = read_payload(in, payload_bytes, source);

  Sha256 hash;
  hash.update(header.data(), kHashedHeaderBytes);
  hash.update(payload);
  if (hash.hex_digest() != std::string(header.data() + kHashedHeaderBytes, 64)) {
    throw corrupt("checksum mismatch");
  }

  // The bytes are the ones save() wrote; the checks below guard against a writer bug.
  auto owned = std::make_unique<Impl>();
  Impl& impl = *owned;
  MemorySource source_buffer(payload.data(), payload.size());
  std::istream stream(&source_buffer);
  impl.csa.load(stream);
  impl.passage_starts.load(stream);
  impl.text_passages.load(stream);
  impl.init_supports();
  impl.num_passages = num_passages;
  impl.num_tokens = num_tokens;
  const size_t alphabet_at = source_buffer.consumed();
  if (!stream || payload.size() - alphabet_at < 8 ||
      (payload.size() - alphabet_at - 8) / 4 != get_u64(&payload[alphabet_at]) ||
      (payload.size() - alphabet_at - 8) % 4 != 0) {
    throw corrupt("payload does not parse to its declared length");
  }
  impl.alphabet.resize(get_u64(&payload[alphabet_at]));
  for (size_t i = 0; i < impl.alphabet.size(); ++i) {
    const uint32_t id = get_u32(&payload[alphabet_at + 8 + 4 * i]);
    if (id > static_cast<uint32_t>(kMaxToken) ||
        (i > 0 && static_cast<TokenId>(id) <= impl.alphabet[i - 1])) {
      throw corrupt("token alphabet is not ascending");
    }
    impl.alphabet[i] = static_cast<TokenId>(id);
  }
  const uint64_t n = impl.csa.size();
  if (n != text_length || n == 0 || impl.passage_starts.size() != n ||
      impl.text_passages.size() != num_passages ||
      impl.passage_starts_rank(n) != SparseBits::rank_1_type(&impl.text_passages)(num_passages) ||
      impl.symbol_count(kTerminator) != 1 ||
      impl.csa.sigma != 1 + (impl.symbol_count(kSeparator) > 0 ? 1 : 0) + impl.alphabet.size() ||
      num_tokens + impl.symbol_count(kSeparator) + 1 != n) {
    throw corrupt("inconsistent structure sizes");
  }
  return FmIndex(std::move(owned));
}

}  // namespace dgr::index
