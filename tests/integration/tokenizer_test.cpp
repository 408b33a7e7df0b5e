// `dgr tokenizer train` on Cranfield: a deterministic vocabulary of the BART format that the
// tokenizer loads and that `dgr index build` can use.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/text/bpe_tokenizer.h"
#include "core/util/files.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

using testing::dgr;
using testing::mpirun;
using testing::run_command;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/" + name;
}
std::string cranfield() {
  return std::string(DGR_SHARED_DATA_DIR) + "/cranfield/corpus.jsonl";
}

TEST(TokenizerTrain, CranfieldVocabularyIsDeterministicAndLoads) {
  std::filesystem::remove_all(tmp("tok-a"));
  auto a = run_command("timeout 120 " + mpirun(2) + dgr() + " tokenizer train --corpus " +
                       cranfield() + " --vocab-size 3000 --out " + tmp("tok-a"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = run_command(dgr() + " tokenizer train --corpus " + cranfield() +
                       " --set tokenizer.vocab_size=3000 --out " + tmp("tok-b"));
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(read_file(tmp("tok-a/vocab.json")), read_file(tmp("tok-b/vocab.json")));
  EXPECT_EQ(read_file(tmp("tok-a/merges.txt")), read_file(tmp("tok-b/merges.txt")));

  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(tmp("tok-a"));
  EXPECT_EQ(tokenizer.vocab_size(), 3000);
  EXPECT_EQ(tokenizer.token_to_id("<s>"), 0);
  EXPECT_EQ(tokenizer.token_to_id("</s>"), 2);
  const std::string text = " the boundary layer of a flat plate";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  EXPECT_LE(tokenizer.encode(text).size(), 8u);  // frequent Cranfield words are single tokens

  nlohmann::json info = nlohmann::json::parse(read_file(tmp("tok-a/tokenizer_info.json")));
  EXPECT_EQ(info["hash"], tokenizer.hash());
  EXPECT_EQ(info["corpus"]["passages"].get<int>(), 1400);
}

TEST(TokenizerTrain, TrainedVocabularyBuildsAnIndex) {
  std::string vocab = tmp("tok-index");
  ASSERT_EQ(run_command(dgr() + " tokenizer train --corpus " + cranfield() +
                        " --vocab-size 2000 --out " + vocab)
                .exit_code,
            0);
  auto build = run_command(dgr() + " index build --corpus " + cranfield() + " --tokenizer " +
                           vocab + " --out " + tmp("tok-index-fm"));
  ASSERT_EQ(build.exit_code, 0) << build.output;
  auto query = run_command(dgr() + " index query " + tmp("tok-index-fm") + " \"boundary layer\"");
  ASSERT_EQ(query.exit_code, 0) << query.output;
  EXPECT_EQ(query.output.find("count      0\n"), std::string::npos) << query.output;
}

TEST(TokenizerTrain, TooSmallVocabularyIsAConfigError) {
  auto result = run_command(dgr() + " tokenizer train --corpus " + cranfield() +
                            " --vocab-size 100 --out " + tmp("tok-small"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("vocab"), std::string::npos) << result.output;
}

TEST(TokenizerEncode, PrintsIdsOfTheBartVocabulary) {
  auto result = run_command(dgr() + " tokenizer encode --tokenizer " + DGR_SHARED_DATA_DIR +
                            "/tokenizer/bart \"Hello world\"");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("ids: 31414 232"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dgr
