// The teacher job's parts: training queries are the judged ones in query-file order; candidates
// from a retrieval (run + keys.jsonl) keep the run's top M with its scores, at most max_keys keys
// each in dump order, qrels labels (−1 unjudged, negative grades as 0), the corpus order as
// passage index, and the rows in the order asked; BM25 candidates have student score 0 and no
// keys; the teacher's scores land on their candidates; every inconsistency between the files is
// an error naming the file and line; an assembled set written with padding reads back equal, and
// a set from another corpus or index is rejected, saying which.
#include "teacher/distillation.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/index/manifest.h"
#include "core/util/error.h"
#include "core/util/hash.h"
#include "data/dataset.h"
#include "tests/data/test_files.h"

namespace dgr::teacher {
namespace {

namespace fs = std::filesystem;

fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / "distillation" /
                       (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string write(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

using data::test::expect_error;

constexpr const char* kCorpus =
    R"({"_id": "p0", "title": "Wings", "text": "lift of swept wings at high speed"}
{"_id": "p1", "title": "Flutter", "text": "panel flutter in supersonic flow"}
{"_id": "p2", "title": "Heat", "text": "heat transfer in hypersonic boundary layers"}
{"_id": "p3", "title": "", "text": "boundary layer transition on a flat plate"}
{"_id": "p4", "title": "Shells", "text": "buckling of thin cylindrical shells"}
{"_id": "p5", "title": "Nozzles", "text": "flow in supersonic nozzles and wings"}
)";

constexpr const char* kQueries = R"({"_id": "q1", "text": "swept wings lift"}
{"_id": "q2", "text": "supersonic flutter"}
{"_id": "q3", "text": "boundary layer heat transfer"}
{"_id": "q4", "text": "shell buckling"}
)";

// q4 is not judged: it is not a training query. p3 of q3 has a negative grade.
constexpr const char* kQrels =
    "query-id\tcorpus-id\tscore\n"
    "q1\tp0\t2\n"
    "q1\tp5\t0\n"
    "q2\tp1\t1\n"
    "q3\tp2\t3\n"
    "q3\tp3\t-1\n";

// A retrieval of q1, q2, q3 and q4 as `dgr retrieve` writes it; q2 retrieved nothing.
constexpr const char* kRun =
    "q1 Q0 p0 1 9.5 dgr\n"
    "q1 Q0 p5 2 7.25 dgr\n"
    "q1 Q0 p2 3 1.5 dgr\n"
    "q3 Q0 p3 1 4 dgr\n"
    "q3 Q0 p2 2 3 dgr\n"
    "q4 Q0 p4 1 2 dgr\n";

const std::string kKeysQ1 =
    R"({"query_id": "q1", "generated_keys": 9, "keys": [)"
    R"({"view": "title", "tokens": [11, 12], "text": "a", "log_prob": -0.5, "count": 3, "weight": 4},)"
    R"({"view": "body", "tokens": [21], "text": "b", "log_prob": -1.25, "count": 10, "weight": 2},)"
    R"({"view": "body", "tokens": [31, 32, 33], "text": "c", "log_prob": -2, "count": 1, "weight": 1}],)"
    R"( "passages": [{"id": "p0", "passage": 0, "score": 9.5, "keys": [0, 1, 2]},)"
    R"({"id": "p5", "passage": 5, "score": 7.25, "keys": [2]},)"
    R"({"id": "p2", "passage": 2, "score": 1.5, "keys": []}]})";
const std::string kKeysQ2 =
    R"({"query_id": "q2", "generated_keys": 0, "keys": [], "passages": []})";
const std::string kKeysQ3 =
    R"({"query_id": "q3", "generated_keys": 2, "keys": [)"
    R"({"view": "pseudo_queries", "tokens": [7], "text": "d", "log_prob": -0.25, "count": 2, "weight": 1}],)"
    R"( "passages": [{"id": "p3", "passage": 3, "score": 4, "keys": [0]},)"
    R"({"id": "p2", "passage": 2, "score": 3, "keys": [0]}]})";
const std::string kKeysQ4 =
    R"({"query_id": "q4", "generated_keys": 0, "keys": [], "passages": [{"id": "p4", "passage": 4, "score": 2, "keys": []}]})";

class Distillation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_dir();
    corpus_path_ = write(dir_ / "corpus.jsonl", kCorpus);
    queries_path_ = write(dir_ / "queries.jsonl", kQueries);
    qrels_path_ = write(dir_ / "train.tsv", kQrels);
    queries_ = data::load_queries(queries_path_);
    qrels_ = data::read_qrels(qrels_path_);
    corpus_ = CorpusIds::read(corpus_path_);
  }

  RetrievalOutputs outputs(const std::string& run, const std::string& keys) {
    return {write(dir_ / "run.trec", run), write(dir_ / "keys.jsonl", keys)};
  }
  RetrievalOutputs good_outputs() {
    return outputs(kRun, kKeysQ1 + "\n" + kKeysQ2 + "\n\n" + kKeysQ3 + "\n" + kKeysQ4 + "\n");
  }
  std::vector<data::Query> training() {
    return training_queries(queries_, queries_path_, qrels_, qrels_path_);
  }
  std::vector<CandidateList> candidates(const RetrievalOutputs& out, CandidateOptions options = {},
                                        std::vector<data::Query> wanted = {}) {
    if (wanted.empty()) wanted = training();
    return retrieval_candidates(out, wanted, queries_, queries_path_, corpus_, qrels_, qrels_path_,
                                options);
  }

  fs::path dir_;
  std::string corpus_path_, queries_path_, qrels_path_;
  data::Queries queries_;
  eval::Qrels qrels_;
  CorpusIds corpus_;
};

TEST_F(Distillation, TrainingQueriesAreTheJudgedOnesInQueryFileOrder) {
  const std::vector<data::Query> queries = training();
  ASSERT_EQ(queries.size(), 3u);
  EXPECT_EQ(queries[0].id, "q1");
  EXPECT_EQ(queries[1].id, "q2");
  EXPECT_EQ(queries[2].id, "q3");
  EXPECT_EQ(queries[2].text, "boundary layer heat transfer");
  const eval::Qrels none =
      data::read_qrels(write(dir_ / "other.tsv", "query-id\tcorpus-id\tscore\nq9\tp0\t1\n"));
  expect_error<DataError>([&] { training_queries(queries_, queries_path_, none, "other.tsv"); },
                          {queries_path_, "other.tsv", "no training queries"});
}

TEST_F(Distillation, CorpusIdsFollowTheFileOrder) {
  ASSERT_EQ(corpus_.ids.size(), 6u);
  EXPECT_EQ(corpus_.ids[3], "p3");
  EXPECT_EQ(corpus_.index.find("p5"), std::optional<size_t>(5));
  EXPECT_FALSE(corpus_.index.find("p9"));
  const data::Corpus loaded = data::load_corpus(corpus_path_);
  const CorpusIds of = CorpusIds::of(loaded, corpus_path_);
  EXPECT_EQ(of.ids, corpus_.ids);
  expect_error<DataError>(
      [&] {
        CorpusIds::read(write(dir_ / "dup.jsonl",
                              std::string(kCorpus) + R"({"_id": "p2", "text": "again"})" + "\n"));
      },
      {"dup.jsonl:7", "p2"});
}

TEST_F(Distillation, LabelsAreGradesMinusOneWhenUnjudgedAndNegativeGradesAreZero) {
  EXPECT_EQ(label_of(qrels_, qrels_path_, "q1", "p0"), 2);
  EXPECT_EQ(label_of(qrels_, qrels_path_, "q1", "p5"), 0);
  EXPECT_EQ(label_of(qrels_, qrels_path_, "q1", "p1"), -1);
  EXPECT_EQ(label_of(qrels_, qrels_path_, "q4", "p4"), -1);
  EXPECT_EQ(label_of(qrels_, qrels_path_, "q3", "p3"), 0);
  eval::Qrels big;
  big.by_query["q1"]["p0"] = 300;
  expect_error<DataError>([&] { label_of(big, "big.tsv", "q1", "p0"); },
                          {"big.tsv", "300", "'q1'", "'p0'"});
}

// teacher.labels: answers relabels every candidate by answer match, over hand-made lists: whole
// tokens after normalisation, so "Paris" is in "paris, France" but "cat" is not in "category";
// a query without answers keeps no positive; qrels labels (here −1 and 2) are all replaced.
TEST(LabelByAnswers, EveryCandidateIsOneWhenItsTextHoldsAnAnswerElseZero) {
  const std::map<std::string, std::string> texts = {{"p1", "The capital is paris, France."},
                                                    {"p2", "A category of animals."},
                                                    {"p3", "Cats and dogs."},
                                                    {"p4", "The U.S. border."}};
  const eval::AnswerMatcher matcher({{"q1", {"Paris"}}, {"q2", {"cat", "u.s"}}, {"q3", {}}},
                                    [&](const std::string& id) -> const std::string* {
                                      const auto it = texts.find(id);
                                      return it == texts.end() ? nullptr : &it->second;
                                    });
  auto list = [](const std::string& query, const std::vector<std::string>& ids) {
    CandidateList l;
    l.record.query_id = query;
    for (const std::string& id : ids) {
      data::DistillCandidate c;
      c.label = id == "p2" ? 2 : -1;  // qrels labels, to be replaced
      l.record.candidates.push_back(c);
      l.passage_ids.push_back(id);
    }
    return l;
  };
  std::vector<CandidateList> lists = {list("q1", {"p1", "p2", "p3"}),
                                      list("q2", {"p2", "p3", "p4"}), list("q3", {"p1", "p4"})};
  EXPECT_EQ(label_by_answers(lists, matcher), 2u);
  auto labels = [](const CandidateList& l) {
    std::vector<int> out;
    for (const auto& c : l.record.candidates)
      out.push_back(c.label);
    return out;
  };
  EXPECT_EQ(labels(lists[0]), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(labels(lists[1]), (std::vector<int>{0, 0, 1}));  // "cat" is not "Cats"
  EXPECT_EQ(labels(lists[2]), (std::vector<int>{0, 0}));
  // A candidate whose passage has no text is an error, not a silent 0.
  std::vector<CandidateList> missing = {list("q1", {"p9"})};
  EXPECT_THROW(label_by_answers(missing, matcher), DataError);
}

TEST_F(Distillation, RetrievalCandidatesCarryScoresKeysAndLabels) {
  const std::vector<CandidateList> lists = candidates(good_outputs());
  ASSERT_EQ(lists.size(), 3u);  // q4 is in both files but is not a training query

  const CandidateList& q1 = lists[0];
  EXPECT_EQ(q1.record.query_id, "q1");
  EXPECT_EQ(q1.record.query, "swept wings lift");
  EXPECT_EQ(q1.passage_ids, (std::vector<std::string>{"p0", "p5", "p2"}));
  ASSERT_EQ(q1.record.candidates.size(), 3u);
  const data::DistillCandidate& top = q1.record.candidates[0];
  EXPECT_EQ(top.passage, 0);
  EXPECT_EQ(top.student_score, 9.5f);
  EXPECT_EQ(top.teacher_score, 0.0f);
  EXPECT_EQ(top.label, 2);
  ASSERT_EQ(top.keys.size(), 3u);
  EXPECT_EQ(top.keys[0].view, search::View::kTitle);
  EXPECT_EQ(top.keys[0].tokens, (std::vector<int32_t>{11, 12}));
  EXPECT_EQ(top.keys[0].count, 3);
  EXPECT_EQ(top.keys[0].log_prob, -0.5f);
  EXPECT_EQ(top.keys[1].view, search::View::kBody);
  EXPECT_EQ(top.keys[2].tokens, (std::vector<int32_t>{31, 32, 33}));
  EXPECT_EQ(q1.record.candidates[1].passage, 5);
  EXPECT_EQ(q1.record.candidates[1].student_score, 7.25f);
  EXPECT_EQ(q1.record.candidates[1].label, 0);
  ASSERT_EQ(q1.record.candidates[1].keys.size(), 1u);
  EXPECT_EQ(q1.record.candidates[1].keys[0].count, 1);
  EXPECT_EQ(q1.record.candidates[2].passage, 2);
  EXPECT_EQ(q1.record.candidates[2].label, -1);
  EXPECT_TRUE(q1.record.candidates[2].keys.empty());

  // q2 retrieved nothing: a row without candidates.
  EXPECT_EQ(lists[1].record.query_id, "q2");
  EXPECT_TRUE(lists[1].record.candidates.empty());
  EXPECT_TRUE(lists[1].passage_ids.empty());

  const CandidateList& q3 = lists[2];
  ASSERT_EQ(q3.record.candidates.size(), 2u);
  EXPECT_EQ(q3.record.candidates[0].passage, 3);
  EXPECT_EQ(q3.record.candidates[0].label, 0);  // grade −1 in the qrels
  EXPECT_EQ(q3.record.candidates[1].label, 3);
  EXPECT_EQ(q3.record.candidates[0].keys[0].view, search::View::kPseudoQuery);
}

TEST_F(Distillation, TopMAndTheKeyCapCutInRunAndDumpOrder) {
  CandidateOptions options;
  options.num_candidates = 2;
  options.max_keys = 1;
  const std::vector<CandidateList> lists = candidates(good_outputs(), options);
  ASSERT_EQ(lists[0].record.candidates.size(), 2u);
  EXPECT_EQ(lists[0].passage_ids, (std::vector<std::string>{"p0", "p5"}));
  ASSERT_EQ(lists[0].record.candidates[0].keys.size(), 1u);
  EXPECT_EQ(lists[0].record.candidates[0].keys[0].tokens, (std::vector<int32_t>{11, 12}));
  options.max_keys = 0;
  for (const CandidateList& list : candidates(good_outputs(), options))
    for (const data::DistillCandidate& c : list.record.candidates)
      EXPECT_TRUE(c.keys.empty());
}

TEST_F(Distillation, RowsComeInTheOrderAskedAndOnlyForTheQueriesAsked) {
  const std::vector<data::Query> all = training();
  const std::vector<CandidateList> lists = candidates(good_outputs(), {}, {all[2], all[0]});
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].record.query_id, "q3");
  EXPECT_EQ(lists[1].record.query_id, "q1");
}

TEST_F(Distillation, FilesThatDoNotFitTogetherAreErrorsNamingFileAndLine) {
  const std::string keys = kKeysQ1 + "\n" + kKeysQ2 + "\n" + kKeysQ3 + "\n";
  // A run query that is not in the query file.
  expect_error<DataError>(
      [&] { candidates(outputs(std::string(kRun) + "q7 Q0 p1 1 1 dgr\n", keys)); },
      {"run.trec:7", "'q7'", queries_path_});
  // A keys.jsonl query that is not in the query file.
  expect_error<DataError>(
      [&] {
        candidates(
            outputs(kRun, keys + R"({"query_id": "q8", "keys": [], "passages": []})" + "\n"));
      },
      {"keys.jsonl:4", "'q8'"});
  // A training query without a keys.jsonl line.
  expect_error<DataError>([&] { candidates(outputs(kRun, kKeysQ1 + "\n" + kKeysQ3 + "\n")); },
                          {"keys.jsonl", "'q2'", "dump_keys on"});
  // A query listed twice.
  expect_error<DataError>([&] { candidates(outputs(kRun, keys + kKeysQ2 + "\n")); },
                          {"keys.jsonl:4", "'q2'", "twice", "line 2"});
  // A passage of the run that the corpus does not have (the dump agrees with the run).
  std::string foreign_run = kRun;
  foreign_run.replace(foreign_run.find("p5"), 2, "px");
  std::string foreign_keys = keys;
  foreign_keys.replace(foreign_keys.find("\"p5\""), 4, "\"px\"");
  expect_error<DataError>([&] { candidates(outputs(foreign_run, foreign_keys)); },
                          {"run.trec:2", "'px'", "not in the corpus", corpus_path_});
  // A run and a dump from different retrievals.
  std::string swapped = kRun;
  swapped.replace(swapped.find("p5"), 2, "p1");
  expect_error<DataError>([&] { candidates(outputs(swapped, keys)); },
                          {"run.trec:2", "'q1'", "candidate 2", "'p1'", "keys.jsonl:1", "'p5'",
                           "different retrievals"});
  expect_error<DataError>([&] { candidates(outputs("q1 Q0 p0 1 9.5 dgr\n", keys)); },
                          {"run.trec:1", "candidate 2", "no more passages"});
  // A dump made with an index of another corpus (internal numbers differ).
  std::string renumbered = keys;
  renumbered.replace(renumbered.find("\"passage\": 5"), 12, "\"passage\": 4");
  expect_error<DataError>([&] { candidates(outputs(kRun, renumbered)); },
                          {"keys.jsonl:1", "'p5'", "internal index 4", "another corpus"});
}

TEST_F(Distillation, MalformedKeysLinesAreErrorsNamingFileAndLine) {
  const std::string tail = "\n" + kKeysQ2 + "\n" + kKeysQ3 + "\n";
  auto with_q1 = [&](const std::string& q1) { return candidates(outputs(kRun, q1 + tail)); };
  expect_error<DataError>([&] { with_q1("{\"query_id\": \"q1\", "); }, {"keys.jsonl:1", "JSON"});
  std::string view = kKeysQ1;
  view.replace(view.find("\"title\""), 7, "\"heading\"");
  expect_error<DataError>([&] { with_q1(view); }, {"keys.jsonl:1", "unknown view", "heading"});
  std::string index = kKeysQ1;
  index.replace(index.find("\"keys\": [2]"), 11, "\"keys\": [3]");
  expect_error<DataError>([&] { with_q1(index); }, {"keys.jsonl:1", "key index", "3"});
  std::string token = kKeysQ1;
  token.replace(token.find("[21]"), 4, "[-21]");
  expect_error<DataError>([&] { with_q1(token); }, {"keys.jsonl:1", "token id", "-21"});
  std::string missing = kKeysQ1;
  missing.replace(missing.find("\"count\": 3, "), 12, "");
  expect_error<DataError>([&] { with_q1(missing); }, {"keys.jsonl:1", "key 0", "'count'"});
  std::string nan = kKeysQ1;
  nan.replace(nan.find("-0.5"), 4, "null");
  expect_error<DataError>([&] { with_q1(nan); }, {"keys.jsonl:1", "log_prob", "number"});
  expect_error<IoError>(
      [&] {
        retrieval_candidates({(dir_ / "none.trec").string(), (dir_ / "none.jsonl").string()},
                             training(), queries_, queries_path_, corpus_, qrels_, qrels_path_, {});
      },
      {"none.trec"});
}

// Every rank streams the whole keys.jsonl but parses in full only the lines of its own queries:
// a line broken after its id fails on the rank that asks for that query, not on the others. The
// checks made from the id alone (a query of the file, listed once) hold on every rank.
TEST_F(Distillation, OnlyTheLinesOfTheQueriesAskedAreParsedInFull) {
  const std::string broken_q3 = R"({"query_id": "q3", "generated_keys": 2, "keys": [{"view)";
  const RetrievalOutputs out = outputs(kRun, kKeysQ1 + "\n" + kKeysQ2 + "\n" + broken_q3 + "\n");
  const std::vector<data::Query> all = training();
  const std::vector<CandidateList> lists = candidates(out, {}, {all[0], all[1]});
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].record.candidates.size(), 3u);
  expect_error<DataError>([&] { candidates(out, {}, {all[2]}); }, {"keys.jsonl:3", "JSON"});
  // An id scanned from a line with the id last, as older dumps wrote it, reads the same.
  const std::string id_last =
      R"({"generated_keys": 0, "keys": [], "passages": [], "query_id": "q2"})";
  const std::vector<CandidateList> q2 =
      candidates(outputs(kRun, kKeysQ1 + "\n" + id_last + "\n" + kKeysQ3 + "\n"), {}, {all[1]});
  ASSERT_EQ(q2.size(), 1u);
  EXPECT_EQ(q2[0].record.query_id, "q2");
  expect_error<DataError>(
      [&] { candidates(outputs(kRun, kKeysQ1 + "\n" + kKeysQ1 + "\n"), {}, {all[1]}); },
      {"keys.jsonl:2", "'q1'", "twice"});
  // A line of its own that names two ids: the scan and the full parse disagree, refused.
  const std::string two_ids = R"({"query_id": "q2", "query_id": "q3", "keys": [], "passages": []})";
  expect_error<DataError>(
      [&] { candidates(outputs(kRun, kKeysQ1 + "\n" + two_ids + "\n"), {}, {all[1]}); },
      {"keys.jsonl:2", "'query_id' is given more than once"});
}

// A teacher that scores a passage by the number in its id, and can be told to misbehave.
class NumberTeacher : public TeacherRanker {
 public:
  std::string name() const override { return "numbers"; }
  std::vector<float> score(const std::string& query_id, const std::string&,
                           const std::vector<std::string>& passage_ids) override {
    calls.push_back(query_id);
    std::vector<float> scores;
    for (const std::string& id : passage_ids)
      scores.push_back(id == nan_for ? std::nanf("") : std::stof(id.substr(1)));
    if (short_by_one) scores.pop_back();
    return scores;
  }
  std::vector<std::string> calls;
  std::string nan_for;
  bool short_by_one = false;
};

TEST_F(Distillation, TeacherScoresLandOnTheirCandidates) {
  std::vector<CandidateList> lists = candidates(good_outputs());
  NumberTeacher teacher;
  score_candidates(teacher, lists);
  EXPECT_EQ(teacher.calls, (std::vector<std::string>{"q1", "q3"}));  // q2 has no candidates
  EXPECT_EQ(lists[0].record.candidates[0].teacher_score, 0.0f);
  EXPECT_EQ(lists[0].record.candidates[1].teacher_score, 5.0f);
  EXPECT_EQ(lists[0].record.candidates[2].teacher_score, 2.0f);
  EXPECT_EQ(lists[2].record.candidates[0].teacher_score, 3.0f);

  std::vector<CandidateList> part = candidates(good_outputs());
  NumberTeacher second;
  score_candidates(second, part, 2, 3);
  EXPECT_EQ(second.calls, (std::vector<std::string>{"q3"}));
  EXPECT_EQ(part[0].record.candidates[1].teacher_score, 0.0f);

  NumberTeacher nan;
  nan.nan_for = "p5";
  expect_error<DataError>([&] { score_candidates(nan, lists); },
                          {"numbers", "'q1'", "'p5'", "not finite"});
  NumberTeacher short_teacher;
  short_teacher.short_by_one = true;
  expect_error<DataError>([&] { score_candidates(short_teacher, lists); },
                          {"numbers", "2 scores", "3 candidates", "'q1'"});
}

TEST_F(Distillation, Bm25CandidatesAreTheTopMWithoutKeysOrStudentScores) {
  Bm25Options bm25;
  const Bm25Index index = Bm25Index::build(corpus_path_, "auto", bm25);
  CandidateOptions options;
  options.num_candidates = 2;
  const std::vector<CandidateList> lists =
      bm25_candidates(index, training(), qrels_, qrels_path_, options, 2);
  ASSERT_EQ(lists.size(), 3u);
  Bm25Searcher searcher(index);
  for (size_t i = 0; i < lists.size(); ++i) {
    const std::vector<Bm25Hit> hits = searcher.search(training()[i].text, 2);
    ASSERT_EQ(lists[i].record.candidates.size(), hits.size());
    for (size_t j = 0; j < hits.size(); ++j) {
      const data::DistillCandidate& c = lists[i].record.candidates[j];
      EXPECT_EQ(c.passage, static_cast<int64_t>(hits[j].passage));
      EXPECT_EQ(lists[i].passage_ids[j], corpus_.ids[hits[j].passage]);
      EXPECT_EQ(c.student_score, 0.0f);
      EXPECT_TRUE(c.keys.empty());
      EXPECT_EQ(c.label, label_of(qrels_, qrels_path_, training()[i].id, lists[i].passage_ids[j]));
    }
  }
  EXPECT_EQ(lists[0].passage_ids[0], "p0");  // "swept wings lift"
  EXPECT_EQ(lists[0].record.candidates[0].label, 2);
}

TEST_F(Distillation, CreationTimeFollowsSourceDateEpoch) {
  ::setenv("SOURCE_DATE_EPOCH", "86400", 1);
  EXPECT_EQ(creation_time(), "1970-01-02T00:00:00Z");
  ::setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
  expect_error<ConfigError>([] { creation_time(); }, {"SOURCE_DATE_EPOCH", "yesterday"});
  ::unsetenv("SOURCE_DATE_EPOCH");
  const std::string now = creation_time();
  EXPECT_EQ(now.size(), 20u);
  EXPECT_EQ(now.back(), 'Z');
}

// The assembled, scored rows round-trip through the store (rows with fewer than M candidates are
// padded), and open_distill_set() rejects a set made from another corpus or index.
TEST_F(Distillation, AssembledSetRoundTripsAndIsCheckedAgainstCorpusAndIndex) {
  std::vector<CandidateList> lists = candidates(good_outputs());
  NumberTeacher teacher;
  score_candidates(teacher, lists);
  const std::vector<data::DistillQuery> records = take_records(std::move(lists));
  ASSERT_EQ(records.size(), 3u);

  index::Manifest manifest;
  manifest.tokenizer_hash = "t";
  manifest.corpus = corpus_path_;
  manifest.corpus_hash = sha256_file(corpus_path_);
  manifest.config_hash = "c";
  manifest.num_passages = 6;
  manifest.num_tokens = 60;
  manifest.shards = {{"shard-00000.fmi", 0, 6, 60, 1000, "s"}};
  fs::create_directories(dir_ / "index");
  manifest.write((dir_ / "index" / "manifest.yaml").string());

  data::DistillSetMeta meta;
  meta.teacher = teacher.name();
  meta.corpus_hash = sha256_file(corpus_path_);
  meta.index_hash = index_hash_of((dir_ / "index").string());
  meta.config_hash = "config";
  meta.created = "2026-01-01T00:00:00Z";
  meta.candidates_per_query = 4;  // every row is padded
  meta.max_keys_per_candidate = 40;
  const std::string path = (dir_ / "set.h5").string();
  data::write_distill_set(path, meta, records);

  const data::DistillSetFile set =
      open_distill_set(path, {corpus_path_, (dir_ / "index").string()});
  ASSERT_EQ(set.size(), 3u);
  const std::vector<data::DistillQuery> back = set.read(0, 3);
  for (size_t q = 0; q < 3; ++q) {
    EXPECT_EQ(back[q].query_id, records[q].query_id);
    ASSERT_EQ(back[q].candidates.size(), records[q].candidates.size());
    for (size_t j = 0; j < back[q].candidates.size(); ++j) {
      const data::DistillCandidate& a = back[q].candidates[j];
      const data::DistillCandidate& b = records[q].candidates[j];
      EXPECT_EQ(a.passage, b.passage);
      EXPECT_EQ(a.teacher_score, b.teacher_score);
      EXPECT_EQ(a.student_score, b.student_score);
      EXPECT_EQ(a.label, b.label);
      ASSERT_EQ(a.keys.size(), b.keys.size());
      for (size_t k = 0; k < a.keys.size(); ++k)
        EXPECT_EQ(a.keys[k].tokens, b.keys[k].tokens);
    }
  }
  // Nothing to compare with: not checked.
  EXPECT_EQ(open_distill_set(path, {}).size(), 3u);

  const std::string other_corpus = write(dir_ / "other.jsonl", R"({"_id": "x", "text": "y"})");
  expect_error<DataError>(
      [&] {
        open_distill_set(path, {other_corpus, ""});
      },
      {path, "another corpus", meta.corpus_hash, sha256_file(other_corpus)});
  manifest.shards[0].sha256 = "rebuilt differently";
  fs::create_directories(dir_ / "index2");
  manifest.write((dir_ / "index2" / "manifest.yaml").string());
  expect_error<DataError>(
      [&] {
        open_distill_set(path, {"", (dir_ / "index2").string()});
      },
      {path, "another index", meta.index_hash});

  // A set of BM25 candidates records no index: no index can contradict it.
  meta.index_hash.clear();
  const std::string bm25_path = (dir_ / "bm25.h5").string();
  data::write_distill_set(bm25_path, meta, records);
  EXPECT_EQ(open_distill_set(bm25_path, {corpus_path_, (dir_ / "index2").string()}).size(), 3u);
}

}  // namespace
}  // namespace dgr::teacher
