// The strict YAML configuration: defaults, extends, overrides, every error naming file and
// line (or the override), and the resolved YAML / hash written next to outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "core/util/files.h"
#include "launch/experiment_config.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::path(DGR_TEST_TMP_DIR) /
        ("config-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
  // The message of the ConfigError thrown by `fn`; fails the test when none is thrown.
  template <class Fn>
  std::string config_error(Fn fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no ConfigError thrown";
    return "";
  }
  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsMatchTheOptionStructs) {
  ResolvedConfig config = resolve_config("", {}, {});
  EXPECT_EQ(config.options.eval.mrr_at, 10);
  EXPECT_EQ(config.options.eval.recall_at, (std::vector<int>{5, 20, 100}));
  EXPECT_EQ(config.options.run.out, "runs/default");
  EXPECT_EQ(config.hash.size(), 64u);
}

TEST_F(ConfigTest, FileValuesOverrideDefaults) {
  std::string path = write("a.yaml",
                           "name: exp\n"
                           "eval:\n"
                           "  mrr_at: 20\n"
                           "  recall_at: [1, 2]\n"
                           "  map: false\n");
  ResolvedConfig config = resolve_config(path, {}, {});
  EXPECT_EQ(config.options.name, "exp");
  EXPECT_EQ(config.options.eval.mrr_at, 20);
  EXPECT_EQ(config.options.eval.recall_at, (std::vector<int>{1, 2}));
  EXPECT_FALSE(config.options.eval.map);
  EXPECT_EQ(config.options.eval.ndcg_at, (std::vector<int>{10}));  // untouched default
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineAndNearestKey) {
  std::string path = write("typo.yaml",
                           "eval:\n"
                           "  mrr_at: 10\n"
                           "  recal_at: [5]\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":3"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'eval.recal_at'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'eval.recall_at'"), std::string::npos) << message;
}

TEST_F(ConfigTest, UnknownSectionSuggestsNearestSection) {
  std::string path = write("section.yaml", "evaluation:\n  mrr_at: 10\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":1"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'evaluation'"), std::string::npos) << message;
}

TEST_F(ConfigTest, UnrelatedUnknownKeyListsValidKeys) {
  std::string path = write("far.yaml", "run:\n  zzzzzzzzzz: 1\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("valid keys here:"), std::string::npos) << message;
  EXPECT_NE(message.find("seed"), std::string::npos) << message;
}

TEST_F(ConfigTest, WrongTypeNamesExpectedType) {
  std::string path = write("type.yaml", "run:\n  seed: 13\n  threads: two\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":3"), std::string::npos) << message;
  EXPECT_NE(message.find("'run.threads' expects an int, got 'two'"), std::string::npos) << message;

  path = write("list.yaml", "eval:\n  recall_at: 5\n");
  message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("expects a list of int"), std::string::npos) << message;

  path = write("listitem.yaml", "eval:\n  recall_at: [5, x]\n");
  message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("eval.recall_at[1]"), std::string::npos) << message;

  path = write("bool.yaml", "eval:\n  map: maybe\n");
  message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("expects a bool"), std::string::npos) << message;

  path = write("section-scalar.yaml", "eval: 3\n");
  message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("'eval' must be a section"), std::string::npos) << message;
}

TEST_F(ConfigTest, ChoiceRejectsUnknownValueWithSuggestion) {
  std::string path = write("choice.yaml", "data:\n  corpus_format: bier\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":2"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'beir'"), std::string::npos) << message;
}

TEST_F(ConfigTest, IntegerOutOfRangeIsAnError) {
  std::string path = write("range.yaml", "eval:\n  mrr_at: 99999999999\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;
}

TEST_F(ConfigTest, MalformedYamlNamesFileAndLine) {
  std::string path = write("bad.yaml", "eval:\n  mrr_at: [1, 2\n  map: true\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed YAML"), std::string::npos) << message;
}

TEST_F(ConfigTest, MissingFileIsAnIoError) {
  EXPECT_THROW(resolve_config((dir_ / "absent.yaml").string(), {}, {}), IoError);
}

TEST_F(ConfigTest, ExtendsMergesSectionsKeyByKey) {
  write("base/base.yaml",
        "name: base\n"
        "eval:\n"
        "  mrr_at: 5\n"
        "  ndcg_at: [3]\n");
  std::string child = write("child.yaml",
                            "extends: base/base.yaml\n"
                            "eval:\n"
                            "  mrr_at: 7\n");
  ResolvedConfig config = resolve_config(child, {}, {});
  EXPECT_EQ(config.options.name, "base");
  EXPECT_EQ(config.options.eval.mrr_at, 7);
  EXPECT_EQ(config.options.eval.ndcg_at, (std::vector<int>{3}));
  EXPECT_EQ(config.tree.files().size(), 2u);
}

TEST_F(ConfigTest, ErrorsInBaseFileNameTheBaseFile) {
  std::string base = write("base2.yaml", "eval:\n  mrr_at: 5\n  bogus_key: 1\n");
  std::string child = write("child2.yaml", "extends: base2.yaml\nname: x\n");
  std::string message = config_error([&] { resolve_config(child, {}, {}); });
  EXPECT_NE(message.find(base + ":3"), std::string::npos) << message;
}

TEST_F(ConfigTest, ExtendsCycleIsDetected) {
  write("x.yaml", "extends: y.yaml\n");
  std::string y = write("y.yaml", "extends: x.yaml\n");
  std::string message = config_error([&] { resolve_config(y, {}, {}); });
  EXPECT_NE(message.find("cycle"), std::string::npos) << message;
}

TEST_F(ConfigTest, ExtendsMissingBaseNamesIncludingLine) {
  std::string path = write("orphan.yaml", "name: a\nextends: nowhere.yaml\n");
  std::string message = config_error([&] { resolve_config(path, {}, {}); });
  EXPECT_NE(message.find(path + ":2"), std::string::npos) << message;
  EXPECT_NE(message.find("nowhere.yaml"), std::string::npos) << message;
}

TEST_F(ConfigTest, SetOverridesFileAndIsTypeChecked) {
  std::string path = write("s.yaml", "eval:\n  mrr_at: 5\n");
  ResolvedConfig config =
      resolve_config(path, {"eval.mrr_at=12", "eval.recall_at=[3, 4]", "run.out=somewhere"}, {});
  EXPECT_EQ(config.options.eval.mrr_at, 12);
  EXPECT_EQ(config.options.eval.recall_at, (std::vector<int>{3, 4}));
  EXPECT_EQ(config.options.run.out, "somewhere");

  std::string message = config_error([&] { resolve_config(path, {"eval.mrr_at=ten"}, {}); });
  EXPECT_NE(message.find("--set eval.mrr_at=ten"), std::string::npos) << message;
  EXPECT_NE(message.find("expects an int"), std::string::npos) << message;

  message = config_error([&] { resolve_config(path, {"eval.mrr=3"}, {}); });
  EXPECT_NE(message.find("--set eval.mrr=3"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'eval.mrr_at'"), std::string::npos) << message;

  message = config_error([&] { resolve_config(path, {"eval.mrr_at"}, {}); });
  EXPECT_NE(message.find("expected KEY=VALUE"), std::string::npos) << message;

  message = config_error([&] { resolve_config(path, {"eval.mrr_at.x=1"}, {}); });
  EXPECT_NE(message.find("is a value, not a section"), std::string::npos) << message;
}

TEST_F(ConfigTest, FlagsOverrideSetAndFile) {
  std::string path = write("f.yaml", "eval:\n  run: from-file.trec\n");
  ResolvedConfig config =
      resolve_config(path, {"eval.run=from-set.trec"}, {{"eval.run", "from-flag.trec"}});
  EXPECT_EQ(config.options.eval.run, "from-flag.trec");
}

TEST_F(ConfigTest, DatasetFillsEmptyPaths) {
  ResolvedConfig config = resolve_config("", {"data.dataset=/d", "data.queries=q.jsonl"}, {});
  EXPECT_EQ(config.options.data.corpus, "/d/corpus.jsonl");
  EXPECT_EQ(config.options.data.queries, "q.jsonl");
  EXPECT_EQ(config.options.data.qrels, "/d/qrels/test.tsv");
}

TEST_F(ConfigTest, EnvironmentVariablesExpandInStrings) {
  ::setenv("DGR_TEST_DATA_ROOT", "/data/root", 1);
  ResolvedConfig config = resolve_config(
      "", {"data.dataset=${DGR_TEST_DATA_ROOT}/cranfield", "run.out=${DGR_UNSET_VAR_X:-fallback}"},
      {});
  EXPECT_EQ(config.options.data.dataset, "/data/root/cranfield");
  EXPECT_EQ(config.options.run.out, "fallback");
  std::string message =
      config_error([&] { resolve_config("", {"run.out=${DGR_UNSET_VAR_X}"}, {}); });
  EXPECT_NE(message.find("DGR_UNSET_VAR_X is not set"), std::string::npos) << message;
}

TEST_F(ConfigTest, ResolvedYamlRoundTripsToTheSameHash) {
  std::string path = write("r.yaml", "name: rt\neval:\n  mrr_at: 3\n  recall_at: [7]\n");
  ResolvedConfig first = resolve_config(path, {"run.seed=5"}, {});
  std::string written = write_resolved_config(first, dir_.string());
  ResolvedConfig second = resolve_config(written, {}, {});
  EXPECT_EQ(first.hash, second.hash);
  EXPECT_EQ(first.yaml, second.yaml);
  EXPECT_NE(read_file(written).find("config_hash: " + first.hash), std::string::npos);
}

TEST_F(ConfigTest, HashChangesWithAnyValue) {
  ResolvedConfig a = resolve_config("", {}, {});
  ResolvedConfig b = resolve_config("", {"eval.mrr_at=11"}, {});
  ResolvedConfig c = resolve_config("", {}, {});
  EXPECT_NE(a.hash, b.hash);
  EXPECT_EQ(a.hash, c.hash);
}

TEST_F(ConfigTest, RequireKeysListsEveryMissingKeyWithItsFlag) {
  ResolvedConfig config = resolve_config("", {}, {});
  std::string message = config_error([&] {
    require_keys(config, {{"eval.run", "--run"}, {"data.qrels", "--qrels"}});
  });
  EXPECT_NE(message.find("missing required key 'eval.run' (set it in the config or pass --run)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("'data.qrels'"), std::string::npos) << message;
}

TEST(ConfigNearest, SuggestsCloseKeysOnly) {
  EXPECT_EQ(config::nearest("recal_at", {"recall_at", "hits_at"}), "recall_at");
  EXPECT_EQ(config::nearest("mrr", {"mrr_at", "map"}), "mrr_at");
  EXPECT_EQ(config::nearest("zzzzzzzz", {"recall_at", "hits_at"}), "");
}

// The one rule for the training judgments: the stage's own key, else the data set's training
// split, else data.qrels; none of them is an error naming the stage.
TEST(TrainingQrels, OverrideThenTrainSplitThenQrels) {
  DataOptions d;
  d.dataset = "data/cranfield";
  d.train_split = "train";
  d.qrels = "data/cranfield/qrels/test.tsv";
  EXPECT_EQ(training_qrels_path(d, "x"), "data/cranfield/qrels/train.tsv");
  EXPECT_EQ(training_qrels_path(d, "x", "mine.tsv"), "mine.tsv");
  d.dataset.clear();
  EXPECT_EQ(training_qrels_path(d, "x"), "data/cranfield/qrels/test.tsv");
  d.qrels.clear();
  try {
    training_qrels_path(d, "teacher rank");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("teacher rank: no training judgments"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace dgr
