// The plan of `dgr pipeline`: stage order, the overrides that wire each stage to the outputs of
// the ones before it (and their order: stage overrides < the user's --set < the wiring), the
// hashes that decide which stages rerun after an edit, and the stage markers.
#include "launch/pipeline_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/util/error.h"

namespace dgr::pipeline {
namespace {

namespace fs = std::filesystem;

class PipelinePlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("pipeline-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  std::string write_config(const std::string& extra = "") {
    const std::string path = (dir_ / "config.yaml").string();
    std::ofstream(path) << "name: plan\n"
                        << "run:\n  out: " << (dir_ / "run").string() << "\n"
                        << "data:\n  dataset: " << (dir_ / "data").string() << "\n"
                        << "pipeline:\n  distill: [train.lr=3e-4, train.epochs=2]\n"
                        << extra;
    return path;
  }

  std::map<std::string, std::string> hashes(const std::vector<std::string>& sets,
                                            const std::string& extra = "") {
    const Plan plan = make_plan(write_config(extra), sets);
    std::map<std::string, std::string> out;
    for (const Stage& s : plan.stages)
      out[s.name] = s.hash;
    return out;
  }

  // Stages whose hash differs between the two settings.
  std::vector<std::string> changed(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b) {
    const auto before = hashes(a);
    const auto after = hashes(b);
    std::vector<std::string> names;
    for (const std::string& name : stage_names()) {
      auto x = before.find(name);
      auto y = after.find(name);
      if (x == before.end() || y == after.end()) continue;
      if (x->second != y->second) names.push_back(name);
    }
    return names;
  }

  std::string run(const std::string& rel) const {
    return (dir_ / "run" / rel).lexically_normal().string();
  }

  fs::path dir_;
};

const Step& only_command(const Stage& stage, const std::vector<std::string>& command) {
  for (const Step& step : stage.steps) {
    if (step.command == command) return step;
  }
  throw std::runtime_error("stage " + stage.name + " has no such step");
}

// Position of the first override starting with `prefix`, or -1.
long position(const Step& step, const std::string& text) {
  auto it = std::find(step.sets.begin(), step.sets.end(), text);
  return it == step.sets.end() ? -1 : it - step.sets.begin();
}

TEST_F(PipelinePlanTest, StagesComeInPipelineOrder) {
  const Plan plan = make_plan(write_config(), {});
  std::vector<std::string> names;
  for (const Stage& s : plan.stages)
    names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"tokenizer", "index", "stage1", "candidates",
                                             "teacher", "distill", "ltrgr", "evaluate"}));
  EXPECT_EQ(plan.run_dir, (dir_ / "run").string());
  EXPECT_EQ(plan.marker_path("index"), run("stages/index.json"));
  ASSERT_EQ(plan.systems.size(), 4U);
  EXPECT_EQ(plan.systems[0].key, "bm25");
  EXPECT_EQ(plan.systems[3].key, "dgr");
}

TEST_F(PipelinePlanTest, StagesReadTheOutputsOfTheStagesBefore) {
  const Plan plan = make_plan(write_config(), {});
  const Step& index = only_command(*plan.find("index"), {"index", "build"});
  EXPECT_GE(position(index, "tokenizer.dir=" + run("tokenizer")), 0);
  EXPECT_GE(position(index, "index.dir=" + run("index")), 0);

  const Stage& stage1 = *plan.find("stage1");
  ASSERT_EQ(stage1.steps.size(), 3U);  // model init, examples build, train
  EXPECT_EQ(stage1.steps[0].command, (std::vector<std::string>{"model", "init"}));
  const Step& train = only_command(stage1, {"train"});
  EXPECT_GE(position(train, "model.init_from=" + run("stage1/init")), 0);
  EXPECT_GE(position(train, "train.export_dir=" + run("stage1/model")), 0);

  const Step& candidates = only_command(*plan.find("candidates"), {"retrieve"});
  EXPECT_GE(position(candidates, "model.init_from=" + run("stage1/model")), 0);
  EXPECT_GE(position(candidates, "retrieve.dump_keys=true"), 0);
  EXPECT_GE(position(candidates, "data.qrels=" + (dir_ / "data/qrels/train.tsv").string()), 0);

  const Step& teacher = only_command(*plan.find("teacher"), {"teacher", "rank"});
  EXPECT_GE(position(teacher, "teacher.candidates_dir=" + run("candidates")), 0);
  EXPECT_GE(position(teacher, "teacher.out=" + run("teacher/distill.h5")), 0);

  const Step& distill = only_command(*plan.find("distill"), {"train"});
  EXPECT_GE(position(distill, "distill.set=" + run("teacher/distill.h5")), 0);
  EXPECT_GE(position(distill, "train.stage=distill"), 0);
  EXPECT_EQ(position(distill, "distill.loss=margin"), -1);

  // The evaluation retrieves the test queries with each trained model: no training data there.
  const Stage& evaluate = *plan.find("evaluate");
  ASSERT_EQ(evaluate.steps.size(), 5U);  // BM25, three models, the table
  EXPECT_EQ(evaluate.steps[0].command, (std::vector<std::string>{"teacher", "bm25-run"}));
  EXPECT_GE(position(evaluate.steps[3], "model.init_from=" + run("distill/model")), 0);
  EXPECT_EQ(evaluate.steps[4].kind, Step::Kind::kCollectResults);
}

TEST_F(PipelinePlanTest, OverridesApplyStageThenUserThenWiring) {
  const Plan plan = make_plan(write_config(), {"train.lr=1e-2", "run.out=elsewhere"});
  EXPECT_EQ(plan.run_dir, "elsewhere");
  const Step& distill = only_command(*plan.find("distill"), {"train"});
  const long stage_lr = position(distill, "train.lr=3e-4");
  const long user_lr = position(distill, "train.lr=1e-2");
  const long wiring = position(distill, "run.out=elsewhere/distill");
  ASSERT_GE(stage_lr, 0);
  ASSERT_GE(user_lr, 0);
  ASSERT_GE(wiring, 0);
  EXPECT_LT(stage_lr, user_lr);
  EXPECT_LT(user_lr, wiring);
  EXPECT_EQ(distill.sets.back().rfind("train.export_dir=", 0), 0U);

  // LTRGR: pipeline.distill, then the margin loss, then pipeline.ltrgr.
  const Plan ltrgr_plan = make_plan(write_config("  ltrgr: [distill.margin=10]\n"), {});
  const Step& ltrgr = only_command(*ltrgr_plan.find("ltrgr"), {"train"});
  EXPECT_LT(position(ltrgr, "train.lr=3e-4"), position(ltrgr, "distill.loss=margin"));
  EXPECT_LT(position(ltrgr, "distill.loss=margin"), position(ltrgr, "distill.margin=10"));
}

TEST_F(PipelinePlanTest, AnEditRerunsTheFirstStageThatUsesItAndEverythingAfter) {
  EXPECT_EQ(changed({}, {"train.lr=1e-2"}),
            (std::vector<std::string>{"stage1", "candidates", "teacher", "distill", "ltrgr",
                                      "evaluate"}));
  EXPECT_EQ(changed({}, {"index.views=[title]"}),
            (std::vector<std::string>{"index", "stage1", "candidates", "teacher", "distill",
                                      "ltrgr", "evaluate"}));
  EXPECT_EQ(changed({}, {"tokenizer.vocab_size=100"}),
            (std::vector<std::string>{"tokenizer", "index", "stage1", "candidates", "teacher",
                                      "distill", "ltrgr", "evaluate"}));
  EXPECT_EQ(changed({}, {"eval.ndcg_at=[5,10]"}), (std::vector<std::string>{"evaluate"}));
  EXPECT_EQ(changed({}, {"teacher.bm25.k1=1.2"}),
            (std::vector<std::string>{"teacher", "distill", "ltrgr", "evaluate"}));
  EXPECT_EQ(changed({}, {"distill.lambda_gen=5"}),
            (std::vector<std::string>{"distill", "ltrgr", "evaluate"}));
  EXPECT_EQ(changed({}, {"pipeline.ltrgr=[distill.margin=10]"}),
            (std::vector<std::string>{"ltrgr", "evaluate"}));
  // How a stage runs is not what it writes.
  EXPECT_TRUE(changed({}, {"run.threads=4", "train.log_every=1", "search.batch_size=3",
                           "train.resume=false"})
                  .empty());
  // The same inputs give the same hashes.
  EXPECT_EQ(hashes({"train.lr=1e-2"}), hashes({"train.lr=1e-2"}));
  // The same data set named by another spelling of its path is the same input.
  fs::create_directories(dir_ / "data");
  const std::string other = (dir_ / "sub" / ".." / "data").string();
  EXPECT_EQ(hashes({}), hashes({"data.dataset=" + other}));
  EXPECT_NE(hashes({}), hashes({"data.dataset=" + (dir_ / "other").string()}));
}

TEST_F(PipelinePlanTest, SyntheticQueriesTrainWhileTheTestSplitEvaluates) {
  const Plan plan = make_plan(write_config("  train_queries: synthetic\n"), {});
  ASSERT_EQ(plan.stages.front().name, "queries");
  EXPECT_EQ(plan.stages.front().steps.at(0).kind, Step::Kind::kSyntheticQueries);
  const Step& train = only_command(*plan.find("stage1"), {"train"});
  EXPECT_GE(position(train, "data.queries=" + run("queries/queries.jsonl")), 0);
  EXPECT_GE(position(train, "data.corpus=" + (dir_ / "data/corpus.jsonl").string()), 0);
  const Step& teacher = only_command(*plan.find("teacher"), {"teacher", "rank"});
  EXPECT_GE(position(teacher, "teacher.qrels=" + run("queries/qrels/train.tsv")), 0);
  // Synthetic judgments are grade 1: the candidates count them whatever the test threshold.
  const Step& candidates = only_command(*plan.find("candidates"), {"retrieve"});
  EXPECT_GE(position(candidates, "eval.relevance_threshold=1"), 0);
  for (const Step& step : plan.find("evaluate")->steps) {
    for (const std::string& set : step.sets)
      EXPECT_EQ(set.find("queries/"), std::string::npos) << set;
  }
  // More synthetic queries: every stage that trains reruns, the tokenizer and index do not.
  const Plan more = make_plan(write_config("  train_queries: synthetic\n"),
                              {"pipeline.synthetic.queries_per_passage=3"});
  EXPECT_NE(more.find("queries")->hash, plan.find("queries")->hash);
  EXPECT_NE(more.find("stage1")->hash, plan.find("stage1")->hash);
  EXPECT_EQ(more.find("index")->hash, plan.find("index")->hash);
}

TEST_F(PipelinePlanTest, AGivenTokenizerIsUsedAsItIs) {
  const Plan plan =
      make_plan(write_config(), {"pipeline.tokenizer=given", "tokenizer.dir=vocab/bart"});
  EXPECT_TRUE(plan.find("tokenizer")->steps.empty());
  const Step& index = only_command(*plan.find("index"), {"index", "build"});
  EXPECT_GE(position(index, "tokenizer.dir=vocab/bart"), 0);
  EXPECT_NE(make_plan(write_config(), {"pipeline.tokenizer=given", "tokenizer.dir=vocab/other"})
                .find("tokenizer")
                ->hash,
            plan.find("tokenizer")->hash);
  // A given model is trained from, not made.
  const Plan given_model = make_plan(write_config(), {"model.init_from=hf/bart-large"});
  const Stage& stage1 = *given_model.find("stage1");
  EXPECT_EQ(stage1.steps.size(), 2U);
  EXPECT_GE(position(only_command(stage1, {"train"}), "model.init_from=hf/bart-large"), 0);
}

TEST_F(PipelinePlanTest, MisconfiguredPipelinesAreRefusedWithTheKey) {
  const std::string path = (dir_ / "bare.yaml").string();
  std::ofstream(path) << "data:\n  corpus: c.jsonl\n  queries: q.jsonl\n  qrels: t.tsv\n";
  try {
    make_plan(path, {});
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.dataset"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_plan(write_config(), {"pipeline.tokenizer=given"}), ConfigError);
  EXPECT_THROW(make_plan(write_config(), {"pipeline.train_queries=bogus"}), ConfigError);
}

TEST_F(PipelinePlanTest, StageListsNameKnownStages) {
  const Plan plan = make_plan(write_config(), {});
  EXPECT_EQ(parse_stage_list("teacher, distill,teacher", plan),
            (std::vector<std::string>{"teacher", "distill"}));
  try {
    parse_stage_list("index,queries", plan);  // no synthetic queries in this plan
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'queries'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_stage_list(" , ", plan), ConfigError);
}

TEST_F(PipelinePlanTest, MarkersRoundTripAndBadOnesNameTheFile) {
  const std::string path = (dir_ / "stages/index.json").string();
  EXPECT_FALSE(read_marker(path).has_value());
  Marker m;
  m.stage = "index";
  m.hash = "0123456789abcdef";
  m.state = "done";
  m.started = "2026-01-01T00:00:00Z";
  m.finished = "2026-01-01T00:00:05Z";
  m.seconds = 5.5;
  m.build = "0.1.0 Release";
  write_marker(path, m);
  const auto back = read_marker(path);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->hash, m.hash);
  EXPECT_EQ(back->state, "done");
  EXPECT_DOUBLE_EQ(back->seconds, 5.5);
  EXPECT_EQ(back->build, "0.1.0 Release");
  // A marker written before builds were kept reads with an empty build.
  std::ofstream(path) << R"({"stage": "index", "hash": "ab", "state": "done"})";
  EXPECT_EQ(read_marker(path)->build, "");

  std::ofstream(path) << "{\"stage\": \"index\", \"hash\": 3}";
  try {
    read_marker(path);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::ofstream(path) << R"({"stage": "index", "hash": "ab", "state": "half"})";
  EXPECT_THROW(read_marker(path), DataError);
}

// An upgraded (or differently built) dgr reruns every stage instead of reusing outputs its code
// may now make differently; the same build reuses them.
TEST_F(PipelinePlanTest, HashesIncludeTheDgrBuild) {
  const std::string config = write_config();
  const Plan a = make_plan(config, {}, "0.1.0 Release");
  const Plan same = make_plan(config, {}, "0.1.0 Release");
  const Plan newer = make_plan(config, {}, "0.2.0 Release");
  const Plan debug = make_plan(config, {}, "0.1.0 Debug");
  EXPECT_EQ(a.build, "0.1.0 Release");
  ASSERT_EQ(a.stages.size(), newer.stages.size());
  for (size_t i = 0; i < a.stages.size(); ++i) {
    EXPECT_EQ(a.stages[i].hash, same.stages[i].hash) << a.stages[i].name;
    EXPECT_NE(a.stages[i].hash, newer.stages[i].hash) << a.stages[i].name;
    EXPECT_NE(a.stages[i].hash, debug.stages[i].hash) << a.stages[i].name;
  }
  EXPECT_FALSE(dgr_build().empty());
  EXPECT_EQ(make_plan(config, {}).build, dgr_build());
}

// --list and the stage header say why a finished stage reruns: another build made it, an input
// stage reruns, or its own keys changed.
TEST_F(PipelinePlanTest, RerunReasonNamesTheBuildTheInputOrTheConfiguration) {
  const std::string config = write_config();
  const Plan done = make_plan(config, {}, "0.1.0 Release");
  for (const Stage& stage : done.stages) {
    Marker m;
    m.stage = stage.name;
    m.hash = stage.hash;
    m.state = "done";
    m.build = done.build;
    write_marker(done.marker_path(stage.name), m);
  }
  const Stage& index = *done.find("index");
  const Marker index_marker = *read_marker(done.marker_path("index"));
  EXPECT_EQ(rerun_reason(done, index, index_marker), "");

  const Plan upgraded = make_plan(config, {}, "0.2.0 Release");
  EXPECT_EQ(rerun_reason(upgraded, *upgraded.find("index"), index_marker),
            "made by dgr 0.1.0 Release; this is dgr 0.2.0 Release");
  Marker old = index_marker;
  old.build.clear();
  EXPECT_EQ(rerun_reason(upgraded, *upgraded.find("index"), old),
            "made by an earlier dgr build; this is dgr 0.2.0 Release");

  const Plan edited = make_plan(config, {"distill.lambda_gen=7"}, "0.1.0 Release");
  EXPECT_EQ(
      rerun_reason(edited, *edited.find("distill"), *read_marker(done.marker_path("distill"))),
      "its configuration changed");
  const Stage& evaluate = *edited.find("evaluate");
  ASSERT_NE(std::find(evaluate.inputs.begin(), evaluate.inputs.end(), "distill"),
            evaluate.inputs.end());
  const std::string why =
      rerun_reason(edited, evaluate, *read_marker(done.marker_path("evaluate")));
  EXPECT_EQ(why.rfind("its input stage ", 0), 0u) << why;
  EXPECT_NE(why.find(" reruns"), std::string::npos) << why;
}

}  // namespace
}  // namespace dgr::pipeline
