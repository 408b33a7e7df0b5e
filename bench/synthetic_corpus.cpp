// Writes a deterministic synthetic BEIR corpus for scaling benchmarks: passages of words drawn
// from a Zipf distribution over a fixed vocabulary of pseudo-words, titles of 3-8 words.
//
//   synthetic_corpus OUT.jsonl PASSAGES [WORDS_PER_PASSAGE=60] [SEED=1]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT.jsonl PASSAGES [WORDS_PER_PASSAGE] [SEED]\n", argv[0]);
    return 2;
  }
  const long passages = std::atol(argv[2]);
  const int words = argc > 3 ? std::atoi(argv[3]) : 60;
  const unsigned seed = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 1;
  std::FILE* out = std::fopen(argv[1], "w");
  if (!out) {
    std::perror(argv[1]);
    return 1;
  }
  // 30k pseudo-words of 2-9 letters; Zipf(1.1) ranks through an inverse-CDF table.
  std::mt19937_64 rng(seed);
  const int vocabulary = 30000;
  std::vector<std::string> lexicon(vocabulary);
  const char* letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (auto& word : lexicon) {
    int length = 2 + static_cast<int>(rng() % 8);
    for (int i = 0; i < length; ++i)
      word += letters[std::min<int>(
          25, static_cast<int>(std::abs(std::normal_distribution<>(0, 7)(rng))))];
  }
  std::vector<double> cdf(vocabulary);
  double total = 0;
  for (int r = 0; r < vocabulary; ++r)
    cdf[r] = (total += 1.0 / std::pow(r + 1, 1.1));
  for (auto& c : cdf)
    c /= total;
  std::uniform_real_distribution<double> uniform(0, 1);
  auto draw = [&] {
    return lexicon[std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin()];
  };
  std::string line;
  for (long p = 0; p < passages; ++p) {
    line = "{\"_id\": \"s" + std::to_string(p) + "\", \"title\": \"";
    int title_words = 3 + static_cast<int>(rng() % 6);
    for (int i = 0; i < title_words; ++i)
      line += (i ? " " : "") + draw();
    line += "\", \"text\": \"";
    for (int i = 0; i < words; ++i)
      line += (i ? " " : "") + draw();
    line += "\"}\n";
    std::fwrite(line.data(), 1, line.size(), out);
  }
  return std::fclose(out) == 0 ? 0 : 1;
}
