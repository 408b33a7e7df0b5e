// `dgr teacher rank` and `dgr teacher inspect` on Cranfield: a tiny stage-1 model retrieves a few
// training queries with their keys, the BM25 teacher scores the candidates on 1 and on 2 ranks
// and both files are the same bytes; the set holds every training query with the retrieval's top
// M in order, its scores, keys and the training qrels' labels (BM25 candidates, which find judged
// passages, too); inspect prints a query in teacher order; a set or an index made from another
// corpus is rejected naming the corpus; and a cross-encoder checkpoint written here scores the
// candidates on 2 ranks with the logits the model gives each pair.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/bert.h"
#include "core/text/wordpiece.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::mpirun;
using testing::run_command;
using testing::slurp;

const std::string kData = std::string(DGR_SHARED_DATA_DIR) + "/cranfield";
constexpr size_t kTrainingQueries = 6;
constexpr int kCandidates = 20;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/teacher-rank-" + std::to_string(::getpid()) + "-" + name;
}

// query -> passage -> grade of a BEIR qrels file.
std::map<std::string, std::map<std::string, int>> read_qrels(const std::string& path) {
  std::map<std::string, std::map<std::string, int>> qrels;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::string query, passage;
  int grade = 0;
  while (in >> query >> passage >> grade)
    qrels[query][passage] = grade;
  return qrels;
}

struct RunLine {
  std::string passage;
  double score = 0;
};

std::map<std::string, std::vector<RunLine>> read_run(const std::string& path) {
  std::map<std::string, std::vector<RunLine>> run;
  std::istringstream in(slurp(path));
  std::string query, q0, tag;
  RunLine line;
  int rank = 0;
  while (in >> query >> q0 >> line.passage >> rank >> line.score >> tag)
    run[query].push_back(line);
  return run;
}

// The corpus as "title: text" (the cross-encoder's passage text) by id.
std::map<std::string, std::string> read_passage_texts(const std::string& path) {
  std::map<std::string, std::string> texts;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const std::string title = j.value("title", "");
    const std::string text = j.value("text", "");
    texts[j["_id"].get<std::string>()] = title.empty() ? text : title + ": " + text;
  }
  return texts;
}

std::string rank_command(const std::string& set, const std::string& extra = "") {
  return dgr() + " teacher rank --dataset " + kData + " --queries " + tmp("queries.jsonl") +
         " --candidates " + tmp("retrieve") + " --out " + set +
         " --set run.out=" + tmp("rank-out") +
         " --set run.threads=1 --set teacher.num_candidates=" + std::to_string(kCandidates) + " " +
         extra;
}

// A BERT cross-encoder with random weights whose vocabulary spells every lowercase word.
void write_cross_encoder(const std::string& dir) {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 'a'; c <= 'z'; ++c) {
    vocab.push_back(std::string(1, c));
    vocab.push_back("##" + std::string(1, c));
  }
  for (char c = '0'; c <= '9'; ++c) {
    vocab.push_back(std::string(1, c));
    vocab.push_back("##" + std::string(1, c));
  }
  for (const char* p : {".", ",", ":", "(", ")", "-", "'", "/", "=", "?", ";", "+"})
    vocab.push_back(p);
  const model::BertConfig config =
      model::BertConfig::preset("tiny", static_cast<int64_t>(vocab.size()), 1);
  torch::manual_seed(3);
  model::BertForSequenceClassification bert(config);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : bert->named_parameters()) {
      const bool norm = item.key().find("LayerNorm.weight") != std::string::npos;
      item.value().copy_(torch::randn_like(item.value()) * 0.3 + (norm ? 1.0 : 0.0));
    }
  }
  model::save_bert_classifier(bert, config, dir);
  std::ofstream out(fs::path(dir) / "vocab.txt");
  for (const std::string& token : vocab)
    out << token << "\n";
}

class TeacherRank : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A few training queries, and one query judged only in the test split.
    const auto train = read_qrels(kData + "/qrels/train.tsv");
    {
      std::ifstream in(kData + "/queries.jsonl");
      std::ofstream out(tmp("queries.jsonl"));
      std::string line;
      bool test_only = false;
      while (std::getline(in, line) && (training_.size() < kTrainingQueries || !test_only)) {
        const std::string id = nlohmann::json::parse(line)["_id"].get<std::string>();
        if (train.count(id) && training_.size() < kTrainingQueries) {
          training_.push_back(id);
          out << line << "\n";
        } else if (!train.count(id) && !test_only) {
          test_only = true;
          out << line << "\n";
        }
      }
    }
    const std::string tokenizer = kData + "/../tokenizer/bart";
    auto index = run_command("timeout 300 " + mpirun(2) + dgr() + " index build --corpus " + kData +
                             "/corpus.jsonl --tokenizer " + tokenizer + " --out " + tmp("index"));
    if (index.exit_code != 0) error_ += "index build failed:\n" + index.output;
    auto model = run_command(dgr() + " model init --tokenizer " + tokenizer + " --out " +
                             tmp("model") + " --set model.arch=tiny --set run.seed=5");
    if (model.exit_code != 0) error_ += "model init failed:\n" + model.output;
    if (!error_.empty()) return;
    auto retrieve = run_command(
        "timeout 300 " + dgr() + " retrieve --dataset " + kData + " --queries " +
        tmp("queries.jsonl") + " --qrels " + kData + "/qrels/train.tsv --index " + tmp("index") +
        " --init-from " + tmp("model") + " --out " + tmp("retrieve") +
        " --set search.beam_size=3 --set search.body_max_length=4 --set search.title_max_length=6"
        " --set scoring.depth=30 --set retrieve.dump_keys=true --set retrieve.evaluate=false"
        " --set run.threads=1");
    if (retrieve.exit_code != 0) error_ += "retrieve failed:\n" + retrieve.output;
    if (!error_.empty()) return;

    // The same command on 1 and on 2 ranks; SOURCE_DATE_EPOCH fixes the creation time.
    auto one = run_command("SOURCE_DATE_EPOCH=1700000000 timeout 300 " +
                           rank_command(tmp("sets") + "/distill.h5"));
    if (one.exit_code != 0) error_ += "1-rank teacher rank failed:\n" + one.output;
    one_output_ = one.output;
    fs::rename(tmp("sets") + "/distill.h5", tmp("sets") + "/one.h5");
    auto two = run_command("SOURCE_DATE_EPOCH=1700000000 timeout 300 " + mpirun(2) +
                           "-x SOURCE_DATE_EPOCH " + rank_command(tmp("sets") + "/distill.h5"));
    if (two.exit_code != 0) error_ += "2-rank teacher rank failed:\n" + two.output;
  }
  static void TearDownTestSuite() {
    for (const char* name : {"queries.jsonl", "index", "model", "retrieve", "by-hand", "sets",
                             "answers.jsonl", "rank-out", "corpus.jsonl", "ce", "ce-out"})
      fs::remove_all(tmp(name));
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }

  static nlohmann::json inspect_json(const std::string& set) {
    auto result = run_command(dgr() + " teacher inspect " + set + " --all --json --corpus " +
                              kData + "/corpus.jsonl");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return nlohmann::json::parse(result.output);
  }

  static inline std::string error_;
  static inline std::string one_output_;
  static inline std::vector<std::string> training_;
};

TEST_F(TeacherRank, OneAndTwoRanksWriteTheSameBytes) {
  const std::string one = slurp(tmp("sets") + "/one.h5");
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(one, slurp(tmp("sets") + "/distill.h5"));
  EXPECT_NE(one_output_.find("wrote " + tmp("sets") + "/distill.h5"), std::string::npos)
      << one_output_;
  EXPECT_TRUE(fs::exists(tmp("rank-out") + "/config.resolved.yaml"));
  // What retrieve handed over to the teacher (docs/formats.md).
  const nlohmann::json handed = nlohmann::json::parse(slurp(tmp("retrieve") + "/outputs.json"));
  EXPECT_EQ(handed["stage"], "retrieve");
  EXPECT_EQ(handed["format"], 1);
  EXPECT_EQ(handed["run"], tmp("retrieve") + "/run.trec");
  EXPECT_EQ(handed["keys"], tmp("retrieve") + "/keys.jsonl");
  EXPECT_EQ(handed["index_dir"], tmp("index"));
  EXPECT_EQ(handed["model"], tmp("model"));
  EXPECT_GT(handed["retrieved"].get<int>(), 0);
}

TEST_F(TeacherRank, SetHoldsTheRetrievalTopMWithScoresKeysAndTrainingLabels) {
  const nlohmann::json set = inspect_json(tmp("sets") + "/one.h5");
  EXPECT_EQ(set["teacher"].get<std::string>().rfind("bm25", 0), 0u) << set["teacher"];
  EXPECT_EQ(set["index_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(set["corpus_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(set["created"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(set["candidates_per_query"], kCandidates);
  EXPECT_EQ(set["max_keys_per_candidate"], 40);
  EXPECT_EQ(set["extra"]["candidates"], "retrieve");

  const auto qrels = read_qrels(kData + "/qrels/train.tsv");
  const auto run = read_run(tmp("retrieve") + "/run.trec");
  std::vector<std::string> ids;
  size_t keys = 0, judged = 0;
  for (const nlohmann::json& q : set["queries"]) {
    const std::string id = q["query_id"].get<std::string>();
    ids.push_back(id);
    const auto found = run.find(id);
    const std::vector<RunLine> lines = found == run.end() ? std::vector<RunLine>{} : found->second;
    const nlohmann::json& candidates = q["candidates"];
    ASSERT_EQ(candidates.size(), std::min<size_t>(kCandidates, lines.size())) << id;
    std::set<float> teacher_scores;
    for (size_t j = 0; j < candidates.size(); ++j) {
      const nlohmann::json& c = candidates[j];
      const std::string passage = c["id"].get<std::string>();
      EXPECT_EQ(passage, lines[j].passage) << id << " candidate " << j;
      EXPECT_EQ(c["student_score"].get<float>(), static_cast<float>(lines[j].score));
      const auto grade = qrels.at(id).find(passage);
      EXPECT_EQ(c["label"].get<int>(), grade == qrels.at(id).end() ? -1 : grade->second)
          << id << " " << passage;
      judged += grade == qrels.at(id).end() ? 0 : 1;
      keys += c["keys"].size();
      EXPECT_LE(c["keys"].size(), 40u);
      teacher_scores.insert(c["teacher_score"].get<float>());
    }
    if (candidates.size() > 3) {
      EXPECT_GT(teacher_scores.size(), 1u) << id;
    }
  }
  EXPECT_EQ(ids, training_);  // the test-only query is not a training query
  EXPECT_GT(keys, 0u);
  (void)judged;  // a random stage-1 model rarely finds judged passages; BM25 does (below)
}

TEST_F(TeacherRank, Bm25CandidatesCarryTrainingLabelsWithoutKeys) {
  auto bm25 = run_command("timeout 120 " +
                          rank_command(tmp("sets") + "/bm25.h5", "--set teacher.candidates=bm25"));
  ASSERT_EQ(bm25.exit_code, 0) << bm25.output;
  const nlohmann::json set = inspect_json(tmp("sets") + "/bm25.h5");
  EXPECT_EQ(set["index_hash"], "");
  EXPECT_EQ(set["extra"]["candidates"], "bm25");
  const auto qrels = read_qrels(kData + "/qrels/train.tsv");
  size_t judged = 0, positive = 0;
  ASSERT_EQ(set["queries"].size(), kTrainingQueries);
  for (const nlohmann::json& q : set["queries"]) {
    const auto& grades = qrels.at(q["query_id"].get<std::string>());
    ASSERT_EQ(q["candidates"].size(), static_cast<size_t>(kCandidates)) << q["query_id"];
    float previous = std::numeric_limits<float>::infinity();
    for (const nlohmann::json& c : q["candidates"]) {
      const auto grade = grades.find(c["id"].get<std::string>());
      EXPECT_EQ(c["label"].get<int>(), grade == grades.end() ? -1 : grade->second);
      judged += grade == grades.end() ? 0 : 1;
      positive += c["label"].get<int>() > 0 ? 1 : 0;
      EXPECT_EQ(c["student_score"].get<float>(), 0.0f);
      EXPECT_TRUE(c["keys"].empty());
      // Candidates are BM25's ranking and the teacher is BM25 with the same settings.
      EXPECT_LE(c["teacher_score"].get<float>(), previous);
      previous = c["teacher_score"].get<float>();
    }
  }
  EXPECT_GT(judged, kTrainingQueries);
  EXPECT_GT(positive, 0u);
}

// teacher.labels: answers labels every candidate by answer match instead of the judgments. Every
// training query's answer here is "boundary layer"; the expected labels come from a plain
// whole-word search of the passage text (lower-cased, punctuation as spaces).
TEST_F(TeacherRank, AnswerLabelsMarkEveryCandidateByAnswerMatch) {
  {
    std::ofstream answers(tmp("answers.jsonl"));
    for (const std::string& id : training_)
      answers << nlohmann::json{{"_id", id}, {"answers", {"Boundary layer"}}}.dump() << "\n";
  }
  auto ranked = run_command(
      "timeout 120 " + rank_command(tmp("sets") + "/answers.h5",
                                    "--set teacher.candidates=bm25 --set teacher.labels=answers"
                                    " --set data.answers=" +
                                        tmp("answers.jsonl")));
  ASSERT_EQ(ranked.exit_code, 0) << ranked.output;
  std::map<std::string, std::string> words;  // passage id -> " its words "
  {
    std::ifstream in(kData + "/corpus.jsonl");
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      std::string text = " " + j.value("text", "") + " ";
      for (char& ch : text)
        ch = std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch))
                                                          : ' ';
      std::string squeezed;
      for (const char ch : text)
        if (ch != ' ' || squeezed.empty() || squeezed.back() != ' ') squeezed += ch;
      words[j["_id"].get<std::string>()] = squeezed;
    }
  }
  const nlohmann::json set = inspect_json(tmp("sets") + "/answers.h5");
  EXPECT_EQ(set["extra"]["labels"], "answers");
  size_t positive = 0, negative = 0;
  for (const nlohmann::json& q : set["queries"]) {
    for (const nlohmann::json& c : q["candidates"]) {
      const std::string id = c["id"].get<std::string>();
      const bool holds = words.at(id).find(" boundary layer ") != std::string::npos;
      EXPECT_EQ(c["label"].get<int>(), holds ? 1 : 0) << q["query_id"] << " " << id;
      (holds ? positive : negative) += 1;
    }
  }
  EXPECT_GT(positive, 0u);
  EXPECT_GT(negative, 0u);
  // Without the answers file the option is refused before any work, naming both keys.
  auto refused = run_command(
      "timeout 120 " + rank_command(tmp("sets") + "/refused.h5", "--set teacher.labels=answers"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("teacher.labels is answers but data.answers is not set"),
            std::string::npos)
      << refused.output;
}

TEST_F(TeacherRank, InspectPrintsAQueryInTeacherOrderWithLabelsAndKeys) {
  const std::string query = training_.front();
  auto result = run_command(dgr() + " teacher inspect " + tmp("sets") + "/one.h5 --query " + query +
                            " --index " + tmp("index"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string& out = result.output;
  EXPECT_NE(out.find("query \"" + query + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("bm25"), std::string::npos) << out;
  EXPECT_NE(out.find("in teacher order"), std::string::npos) << out;
  // Candidate lines: rank, passage id, teacher score, student score, student rank, label.
  const auto qrels = read_qrels(kData + "/qrels/train.tsv").at(query);
  std::istringstream lines(out);
  std::string line;
  std::vector<double> teacher;
  size_t labelled = 0, key_lines = 0;
  bool table = false;
  while (std::getline(lines, line)) {
    if (line.find("s.rank") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table) continue;
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (first == "title" || first == "body") {
      ++key_lines;
      EXPECT_NE(line.find("count"), std::string::npos) << line;
      continue;
    }
    int rank = 0;
    std::string passage, label;
    double t = 0, s = 0;
    int student_rank = 0;
    std::istringstream row(line);
    if (!(row >> rank >> passage >> t >> s >> student_rank >> label)) continue;
    EXPECT_EQ(rank, static_cast<int>(teacher.size()) + 1);
    teacher.push_back(t);
    const auto grade = qrels.find(passage);
    EXPECT_EQ(label, grade == qrels.end() ? "-" : std::to_string(grade->second)) << line;
    labelled += grade == qrels.end() ? 0 : 1;
  }
  ASSERT_FALSE(teacher.empty()) << out;
  for (size_t i = 1; i < teacher.size(); ++i)
    EXPECT_GE(teacher[i - 1], teacher[i]) << out;
  EXPECT_GT(key_lines, 0u) << out;

  auto missing = run_command(dgr() + " teacher inspect " + tmp("sets") + "/one.h5 --query nope");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("'nope'"), std::string::npos) << missing.output;
}

TEST_F(TeacherRank, AnotherCorpusIsRejectedNamingTheCorpus) {
  // The same passages plus one: another corpus file, another hash.
  {
    std::ofstream out(tmp("corpus.jsonl"));
    out << slurp(kData + "/corpus.jsonl") << R"({"_id": "extra", "title": "", "text": "more"})"
        << "\n";
  }
  auto inspect = run_command(dgr() + " teacher inspect " + tmp("sets") + "/one.h5 --corpus " +
                             tmp("corpus.jsonl"));
  EXPECT_NE(inspect.exit_code, 0);
  EXPECT_NE(inspect.output.find("another corpus"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("corpus_hash"), std::string::npos) << inspect.output;

  auto rank = run_command(
      "timeout 120 " + rank_command(tmp("sets") + "/other.h5", "--corpus " + tmp("corpus.jsonl")));
  EXPECT_NE(rank.exit_code, 0);
  EXPECT_NE(rank.output.find("another corpus"), std::string::npos) << rank.output;
  EXPECT_FALSE(fs::exists(tmp("sets") + "/other.h5"));

  auto no_candidates = run_command(
      "timeout 120 " + dgr() + " teacher rank --dataset " + kData + " --out " + tmp("sets") +
      "/none.h5 --set run.out=" + tmp("rank-out") + " --candidates " + tmp("nowhere"));
  EXPECT_NE(no_candidates.exit_code, 0);
  EXPECT_NE(no_candidates.output.find(tmp("nowhere")), std::string::npos) << no_candidates.output;

  // A directory with a run and keys but no outputs manifest of `dgr retrieve` (an older dgr, or
  // files put there by hand): refused, naming the manifest and what to run.
  fs::create_directories(tmp("by-hand"));
  fs::copy_file(tmp("retrieve") + "/run.trec", tmp("by-hand") + "/run.trec");
  fs::copy_file(tmp("retrieve") + "/keys.jsonl", tmp("by-hand") + "/keys.jsonl");
  auto by_hand = run_command("timeout 120 " + dgr() + " teacher rank --dataset " + kData +
                             " --out " + tmp("sets") + "/none.h5 --set run.out=" + tmp("rank-out") +
                             " --candidates " + tmp("by-hand"));
  EXPECT_NE(by_hand.exit_code, 0);
  EXPECT_NE(by_hand.output.find(tmp("by-hand") + "/outputs.json does not exist"), std::string::npos)
      << by_hand.output;
  EXPECT_NE(by_hand.output.find("run `dgr retrieve` again"), std::string::npos) << by_hand.output;
}

TEST_F(TeacherRank, CrossEncoderTeacherScoresEveryPairOnTwoRanks) {
  const std::string checkpoint = tmp("ce");
  write_cross_encoder(checkpoint);
  const int max_length = 48;
  auto ce = run_command("timeout 300 " + mpirun(2) + dgr() + " teacher rank --dataset " + kData +
                        " --queries " + tmp("queries.jsonl") + " --candidates " + tmp("retrieve") +
                        " --out " + tmp("sets") + "/ce.h5 --set run.out=" + tmp("ce-out") +
                        " --set run.threads=1 --set teacher.num_candidates=8"
                        " --set teacher.kind=cross-encoder --checkpoint " +
                        checkpoint + " --set teacher.cross_encoder.max_length=" +
                        std::to_string(max_length) + " --set teacher.cross_encoder.batch_size=5");
  ASSERT_EQ(ce.exit_code, 0) << ce.output;
  const nlohmann::json set = inspect_json(tmp("sets") + "/ce.h5");
  EXPECT_EQ(set["teacher"].get<std::string>().rfind("cross-encoder:", 0), 0u) << set["teacher"];
  ASSERT_EQ(set["queries"].size(), kTrainingQueries);

  // Each pair's score is the model's logit for it, computed here without the teacher.
  std::map<std::string, std::string> query_texts;
  {
    std::ifstream in(tmp("queries.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      query_texts[j["_id"].get<std::string>()] = j["text"].get<std::string>();
    }
  }
  const std::map<std::string, std::string> passages = read_passage_texts(kData + "/corpus.jsonl");
  const text::WordPieceTokenizer tokenizer =
      text::WordPieceTokenizer::load(checkpoint + "/vocab.txt");
  torch::set_num_threads(1);
  model::PretrainedBertClassifier bert = model::load_bert_classifier(checkpoint);
  torch::NoGradGuard no_grad;
  size_t checked = 0;
  std::set<float> distinct;
  for (const nlohmann::json& q : set["queries"]) {
    const std::string& query = query_texts.at(q["query_id"].get<std::string>());
    for (const nlohmann::json& c : q["candidates"]) {
      const text::PairEncoding pair =
          tokenizer.encode_pair(query, passages.at(c["id"].get<std::string>()), max_length);
      const auto n = static_cast<int64_t>(pair.input_ids.size());
      std::vector<int64_t> ids(pair.input_ids.begin(), pair.input_ids.end());
      std::vector<int64_t> types(pair.token_type_ids.begin(), pair.token_type_ids.end());
      const float expected =
          bert.model
              ->forward(torch::tensor(ids).view({1, n}), torch::tensor(types).view({1, n}),
                        torch::ones({1, n}, torch::kLong))[0][0]
              .item<float>();
      const float got = c["teacher_score"].get<float>();
      EXPECT_NEAR(got, expected, 1e-4 * std::max(1.0f, std::abs(expected)))
          << q["query_id"] << " " << c["id"];
      distinct.insert(got);
      ++checked;
    }
  }
  EXPECT_GT(checked, 10u);
  EXPECT_GT(distinct.size(), checked / 2);
}

}  // namespace
}  // namespace dgr
