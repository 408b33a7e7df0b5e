// Bad experiment configs (YAML, read by launch/experiment_config through core/util/config):
// malformed YAML, files that are not a map, unknown keys, every wrong type, values out of range,
// NaN and infinities, duplicate keys, several documents, invalid UTF-8, deep nesting, a huge
// line, bad `extends` and environment references, and bad `--set` overrides.
//
// Known gap: yaml-cpp 0.7 accepts a double- or single-quoted scalar that is never closed when it
// runs to the end of the file (`name: "dgr` followed by more keys reads them all into `name`),
// so that case is not in the table. Each must be a
// ConfigError naming the file and line (or the override) and the key; a missing or unreadable
// file is an IoError.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "launch/experiment_config.h"
#include "tests/robustness/bad_files.h"

namespace dgr::robustness {
namespace {

void resolve(const std::string& path) {
  resolve_config(path, {}, {});
}

const Expect kConfig = Expect::kConfigError;

TEST(ConfigFiles, MalformedOrNotAMap) {
  run_file_cases(
      "config.yaml",
      {
          {"unclosed-flow-list",
           "eval:\n  mrr_at: [1, 2\n  map: true\n",
           kConfig,
           0,
           {"malformed YAML"}},
          {"unclosed-single-quote-in-flow", "run: {seed: 'x}\n", kConfig, 0, {"malformed YAML"}},
          {"tab-indentation", "run:\n\tseed: 3\n", kConfig, 0, {"malformed YAML"}},
          {"bad-indentation", "run:\n    seed: 3\n  threads: 2\n", kConfig, 0, {"malformed YAML"}},
          {"undefined-alias", "name: *nowhere\n", kConfig, 0, {"malformed YAML"}},
          {"top-level-list",
           "- run\n- data\n",
           kConfig,
           1,
           {"must be a map of sections", "a list"}},
          {"top-level-scalar", "just some words\n", kConfig, 1, {"must be a map of sections"}},
          {"key-is-a-list", "? [a, b]\n: 1\n", kConfig, 1, {"keys must be plain names"}},
          {"two-documents", "name: a\n---\nrun:\n  seed: 2\n", kConfig, 0, {"one YAML document"}},
          {"deep-nesting",
           "name: " + std::string(100000, '[') + "\n",
           kConfig,
           0,
           {"malformed YAML"}},
      },
      resolve);
}

TEST(ConfigFiles, EmptyCommentsBomAndLineEndsAreAccepted) {
  run_file_cases(
      "config.yaml",
      {
          {"empty", "", Expect::kAccepted, 0, {}},
          {"only-comments", "# nothing here\n\n# still nothing\n", Expect::kAccepted, 0, {}},
          {"document-marker", "---\nname: x\n", Expect::kAccepted, 0, {}},
          {"byte-order-mark", "\xEF\xBB\xBFname: x\n", Expect::kAccepted, 0, {}},
          {"crlf", "run:\r\n  seed: 3\r\n", Expect::kAccepted, 0, {}},
          {"anchor-and-alias", "run:\n  seed: &s 5\n  threads: *s\n", Expect::kAccepted, 0, {}},
          {"empty-section", "train:\n", Expect::kAccepted, 0, {}},
      },
      resolve);
}

TEST(ConfigFiles, UnknownKeys) {
  run_file_cases("config.yaml",
                 {
                     {"top-level-typo",
                      "nmae: x\n",
                      kConfig,
                      1,
                      {"unknown key 'nmae'", "did you mean 'name'"}},
                     {"nested-typo",
                      "run:\n  seed: 1\n  sed: 2\n",
                      kConfig,
                      3,
                      {"unknown key 'run.sed'", "did you mean 'run.seed'"}},
                     {"unrelated-key",
                      "train:\n  zzzzzzzzzz: 1\n",
                      kConfig,
                      2,
                      {"unknown key 'train.zzzzzzzzzz'", "valid keys here:"}},
                     {"deep-unknown",
                      "teacher:\n  bm25:\n    k3: 1\n",
                      kConfig,
                      3,
                      {"unknown key 'teacher.bm25.k3'"}},
                     {"unknown-section",
                      "trian:\n  lr: 1\n",
                      kConfig,
                      1,
                      {"unknown key 'trian'", "did you mean 'train'"}},
                     {"key-under-a-value",
                      "run:\n  out:\n    dir: x\n",
                      kConfig,
                      2,
                      {"key 'run.out' expects a string", "a map"}},
                 },
                 resolve);
}

TEST(ConfigFiles, WrongTypes) {
  run_file_cases(
      "config.yaml",
      {
          {"string-for-int",
           "search:\n  beam_size: fifteen\n",
           kConfig,
           2,
           {"key 'search.beam_size' expects an int", "'fifteen'"}},
          {"float-for-int",
           "search:\n  beam_size: 1.5\n",
           kConfig,
           2,
           {"key 'search.beam_size' expects an int"}},
          {"hex-for-int",
           "search:\n  beam_size: 0x10\n",
           kConfig,
           2,
           {"key 'search.beam_size' expects an int"}},
          {"list-for-int",
           "search:\n  beam_size: [1]\n",
           kConfig,
           2,
           {"key 'search.beam_size' expects an int", "a list"}},
          {"map-for-int",
           "search:\n  beam_size: {a: 1}\n",
           kConfig,
           2,
           {"key 'search.beam_size' expects an int", "a map"}},
          {"null-for-int",
           "search:\n  beam_size:\n",
           kConfig,
           2,
           {"key 'search.beam_size' has no value"}},
          {"string-for-float",
           "train:\n  lr: fast\n",
           kConfig,
           2,
           {"key 'train.lr' expects a float", "'fast'"}},
          {"list-for-float",
           "train:\n  lr: [0.1]\n",
           kConfig,
           2,
           {"key 'train.lr' expects a float"}},
          {"float-with-suffix",
           "train:\n  lr: 1e-4x\n",
           kConfig,
           2,
           {"key 'train.lr' expects a float"}},
          {"word-for-bool",
           "train:\n  resume: sometimes\n",
           kConfig,
           2,
           {"key 'train.resume' expects a bool"}},
          {"number-for-bool",
           "train:\n  resume: 2\n",
           kConfig,
           2,
           {"key 'train.resume' expects a bool"}},
          {"map-for-string", "name: {first: a}\n", kConfig, 1, {"key 'name' expects a string"}},
          {"list-for-string",
           "data:\n  corpus: [a.jsonl, b.jsonl]\n",
           kConfig,
           2,
           {"key 'data.corpus' expects a string", "a list"}},
          {"map-for-int-list",
           "eval:\n  ndcg_at: {ten: 10}\n",
           kConfig,
           2,
           {"key 'eval.ndcg_at' expects a list of int", "a map"}},
          {"string-in-int-list",
           "eval:\n  hits_at: [5, twenty]\n",
           kConfig,
           2,
           {"key 'eval.hits_at[1]' expects an int"}},
          {"nested-list-in-int-list",
           "eval:\n  hits_at: [5, [20]]\n",
           kConfig,
           2,
           {"key 'eval.hits_at[1]' expects an int"}},
          {"scalar-for-string-list",
           "index:\n  views: title\n",
           kConfig,
           2,
           {"key 'index.views' expects a list of string"}},
          {"map-in-string-list",
           "index:\n  views: [title, {b: 1}]\n",
           kConfig,
           2,
           {"key 'index.views[1]' expects a string"}},
          {"scalar-for-section", "train: fast\n", kConfig, 1, {"'train' must be a section"}},
          {"list-for-section",
           "teacher:\n  bm25: [1, 2]\n",
           kConfig,
           2,
           {"'teacher.bm25' must be a section", "a list"}},
          {"bad-choice",
           "model:\n  arch: bart-huge\n",
           kConfig,
           2,
           {"key 'model.arch' must be one of", "'bart-huge'"}},
          {"null-choice", "model:\n  arch:\n", kConfig, 2, {"key 'model.arch' has no value"}},
          {"list-for-choice",
           "train:\n  decay: [linear]\n",
           kConfig,
           2,
           {"key 'train.decay' expects a string"}},
      },
      resolve);
}

TEST(ConfigFiles, OutOfRangeAndNonFiniteNumbers) {
  run_file_cases(
      "config.yaml",
      {
          {"int-beyond-int32",
           "run:\n  seed: 3000000000\n",
           kConfig,
           2,
           {"key 'run.seed' is out of range for an int"}},
          {"int-below-int32",
           "run:\n  seed: -3000000000\n",
           kConfig,
           2,
           {"key 'run.seed' is out of range for an int"}},
          {"int-beyond-int64",
           "run:\n  seed: 99999999999999999999999\n",
           kConfig,
           2,
           {"key 'run.seed' expects an int"}},
          {"float-overflow", "train:\n  lr: 1e999\n", kConfig, 2, {"key 'train.lr'", "finite"}},
          {"nan", "train:\n  lr: nan\n", kConfig, 2, {"key 'train.lr'", "finite"}},
          {"upper-nan",
           "distill:\n  margin: NAN\n",
           kConfig,
           2,
           {"key 'distill.margin'", "finite"}},
          {"yaml-nan", "train:\n  lr: .nan\n", kConfig, 2, {"key 'train.lr'"}},
          {"inf", "train:\n  clip_norm: inf\n", kConfig, 2, {"key 'train.clip_norm'", "finite"}},
          {"negative-inf",
           "scoring:\n  alpha: -inf\n",
           kConfig,
           2,
           {"key 'scoring.alpha'", "finite"}},
          {"infinity",
           "teacher:\n  bm25:\n    k1: Infinity\n",
           kConfig,
           3,
           {"key 'teacher.bm25.k1'", "finite"}},
          {"yaml-inf", "train:\n  lr: .inf\n", kConfig, 2, {"key 'train.lr'"}},
          {"subnormal-is-a-number", "train:\n  lr: 1e-310\n", Expect::kAccepted, 0, {}},
          {"underflow-is-zero", "train:\n  lr: 1e-400\n", Expect::kAccepted, 0, {}},
          {"negative-zero-is-a-number", "train:\n  end_lr: -0.0\n", Expect::kAccepted, 0, {}},
      },
      resolve);
}

TEST(ConfigFiles, DuplicateKeys) {
  run_file_cases(
      "config.yaml",
      {
          {"top-level",
           "name: a\nname: b\n",
           kConfig,
           2,
           {"duplicate key 'name'", "first at line 1"}},
          {"nested",
           "train:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n",
           kConfig,
           4,
           {"duplicate key 'train.lr'", "first at line 2"}},
          {"section-twice",
           "train:\n  lr: 0.1\neval:\n  map: true\ntrain:\n  epochs: 1\n",
           kConfig,
           5,
           {"duplicate key 'train'", "first at line 1"}},
          {"flow-map", "run: {seed: 1, seed: 2}\n", kConfig, 1, {"duplicate key 'run.seed'"}},
      },
      resolve);
}

TEST(ConfigFiles, InvalidUtf8) {
  std::vector<FileCase> cases;
  int i = 0;
  for (const std::string& bad : invalid_utf8_samples()) {
    cases.push_back({"value-" + std::to_string(i),
                     "run:\n  seed: 1\nname: ab" + bad + "cd\n",
                     kConfig,
                     3,
                     {"invalid UTF-8"}});
    cases.push_back({"key-" + std::to_string(i++),
                     "run:\n  se" + bad + "ed: 1\n",
                     kConfig,
                     2,
                     {"invalid UTF-8"}});
  }
  cases.push_back({"latin1-comment", "# caf\xE9\nname: x\n", kConfig, 1, {"invalid UTF-8"}});
  // Well-formed UTF-8 but control characters YAML does not allow: yaml-cpp read a NUL inside a
  // plain scalar into a value it wrote back as invalid UTF-8 (a fuzz finding).
  cases.push_back({"nul-in-value",
                   std::string("name: ab") + '\0' + "cd runs\n",
                   kConfig,
                   1,
                   {"control character U+0000 at byte column 9"}});
  cases.push_back(
      {"escape-in-value", "run:\n  out: a\x1B[0m\n", kConfig, 2, {"control character U+001B"}});
  cases.push_back({"c1-in-key", "na\xC2\x9Bme: x\n", kConfig, 1, {"control character U+009B"}});
  cases.push_back({"tab-and-crlf-are-text", "# a\tb\r\nname: x\r\n", Expect::kAccepted, 0, {}});
  run_file_cases("config.yaml", cases, resolve);
}

TEST(ConfigFiles, HugeLines) {
  // A 4 MiB value on one line is read whole; a 4 MiB key is malformed YAML (keys are at most
  // 1024 characters), reported without a crash.
  const std::string big(4u << 20, 'x');
  const std::string path = write_bytes("big-value.yaml", "name: " + big + "\n");
  ResolvedConfig config;
  expect_outcome([&] { config = resolve_config(path, {}, {}); }, Expect::kAccepted, {});
  EXPECT_EQ(config.options.name.size(), big.size());

  const std::string key_path = write_bytes("big-key.yaml", "run:\n  " + big + ": 1\n");
  expect_outcome([&] { resolve(key_path); }, kConfig, {key_path + ":2:", "malformed YAML"});
}

TEST(ConfigFiles, ExtendsAndEnvironment) {
  ::unsetenv("DGR_ROBUSTNESS_UNSET_VARIABLE");
  run_file_cases(
      "config.yaml",
      {
          {"extends-a-map", "extends: {a: b}\n", kConfig, 1, {"'extends' must be a path"}},
          {"extends-list-of-maps",
           "extends:\n  - {a: b}\n",
           kConfig,
           2,
           {"'extends' entries must be paths"}},
          {"extends-missing",
           "extends: nowhere.yaml\nname: x\n",
           kConfig,
           1,
           {"'extends' names 'nowhere.yaml', which does not exist"}},
          {"extends-itself", "extends: config.yaml\n", kConfig, 0, {"'extends' cycle"}},
          {"unset-variable",
           "data:\n  corpus: ${DGR_ROBUSTNESS_UNSET_VARIABLE}/c.jsonl\n",
           kConfig,
           2,
           {"key 'data.corpus'", "DGR_ROBUSTNESS_UNSET_VARIABLE is not set"}},
          {"unterminated-reference",
           "data:\n  corpus: ${HOME/c.jsonl\n",
           kConfig,
           2,
           {"key 'data.corpus'", "unterminated '${'"}},
          {"fallback-is-fine",
           "data:\n  corpus: ${DGR_ROBUSTNESS_UNSET_VARIABLE:-c.jsonl}\n",
           Expect::kAccepted,
           0,
           {}},
      },
      resolve);

  // A base file that is bad is named itself, with its own line.
  const std::string base = write_bytes("base/base.yaml", "run:\n  seed: x\n");
  const std::string top = write_bytes("base/top.yaml", "extends: base.yaml\nname: y\n");
  expect_outcome([&] { resolve(top); }, kConfig, {base + ":2:", "key 'run.seed' expects an int"});
  const std::string bad_base = write_bytes("bad-base/base.yaml", "run: [\n");
  const std::string bad_top = write_bytes("bad-base/top.yaml", "extends: base.yaml\n");
  expect_outcome([&] { resolve(bad_top); }, kConfig, {bad_base, "malformed YAML"});
}

TEST(ConfigFiles, NotAReadableFile) {
  const std::string dir = scratch_dir() + "/a-directory.yaml";
  fs::create_directories(dir);
  expect_outcome([&] { resolve(dir); }, Expect::kIoError, {dir});
  const std::string absent = scratch_dir() + "/absent.yaml";
  expect_outcome([&] { resolve(absent); }, Expect::kIoError, {absent});
  const std::string dangling = scratch_dir() + "/dangling.yaml";
  fs::create_symlink(scratch_dir() + "/nowhere.yaml", dangling);
  expect_outcome([&] { resolve(dangling); }, Expect::kIoError, {dangling});
}

TEST(ConfigFiles, BadOverrides) {
  struct OverrideCase {
    std::string assignment;
    std::vector<std::string> parts;
  };
  const std::vector<OverrideCase> cases = {
      {"train.lr", {"--set train.lr", "expected KEY=VALUE"}},
      {"=3", {"--set =3", "expected KEY=VALUE"}},
      {"train..lr=3", {"malformed key path 'train..lr'"}},
      {"name.first=a", {"--set name.first=a", "key 'name' expects a string, got a map"}},
      {"train.lr=nan", {"--set train.lr=nan", "key 'train.lr'", "finite"}},
      {std::string("name=a") + '\x01' + "b",
       {"--set name=a", "control character U+0001 at byte 7"}},
      {"name=caf\xE9", {"--set name=caf", "invalid UTF-8 at byte 9"}},
      {"train.lr=[1, 2]", {"--set train.lr=[1, 2]", "key 'train.lr' expects a float"}},
      {"search.beam_size=1e3", {"key 'search.beam_size' expects an int"}},
      {"train.no_such_key=1", {"--set train.no_such_key=1", "unknown key 'train.no_such_key'"}},
      {"eval.recall_at=[5, {a: 1}]", {"key 'eval.recall_at[1]' expects an int"}},
  };
  for (const OverrideCase& c : cases) {
    SCOPED_TRACE("--set " + c.assignment);
    expect_outcome([&] { resolve_config("", {c.assignment}, {}); }, kConfig, c.parts);
  }
}

}  // namespace
}  // namespace dgr::robustness
