// OptionError and KeyScope (core/util/options.h): a component names a refused option by its
// struct's field; where the assembled configuration places the struct decides the key users
// read ("train.lr", "teacher.train.lr").
#include "core/util/options.h"

#include <gtest/gtest.h>

#include <string>

#include "launch/experiment_config.h"

namespace dgr {
namespace {

struct Inner {
  int count = 1;
  std::string mode = "a";
};

template <class V>
void visit(V& v, Inner& o) {
  v.field("count", o.count, "A count.");
  v.field("mode", config::Choice{o.mode, {"a", "b"}}, "A mode.");
}

struct Outer {
  double rate = 0.5;
  Inner inner;
  Inner flat;  // visited inline: its fields join Outer's
};

template <class V>
void visit(V& v, Outer& o) {
  v.field("rate", o.rate, "A rate.");
  v.section("inner", o.inner, "A section.");
  visit(v, o.flat);
}

std::string message(const config::OptionError& e) {
  return e.what();
}

TEST(OptionKey, NamesAFieldByItsPathInTheStruct) {
  Outer o;
  EXPECT_EQ(config::option_key(o, o.rate).name, "rate");
  EXPECT_EQ(config::option_key(o, o.inner.count).name, "inner.count");
  EXPECT_EQ(config::option_key(o, o.inner.mode).name, "inner.mode");  // a Choice
  EXPECT_EQ(config::option_key(o, o.flat.count).name, "count");
  EXPECT_EQ(config::option_key(o.inner, o.inner.count).name, "count");
}

TEST(OptionError, WithoutAScopeUsesTheStructsNames) {
  Outer o;
  const config::OptionError e("{} + {} must be positive", {config::option_key(o, o.rate),
                                                           config::option_key(o, o.inner.count)});
  EXPECT_EQ(message(e), "rate + inner.count must be positive");
  EXPECT_NE(dynamic_cast<const ConfigError*>(&e), nullptr);
}

TEST(OptionError, AScopeNamesTheKeyWhereTheStructIsPlaced) {
  Outer o;
  {
    const config::KeyScope keys(o, "teacher.train");
    EXPECT_EQ(message(config::OptionError("{} must be positive", {config::option_key(o, o.rate)})),
              "teacher.train.rate must be positive");
    // The innermost scope that knows a field names it.
    const config::KeyScope inner(o.inner, "elsewhere");
    EXPECT_EQ(message(config::OptionError("{} is bad", {config::option_key(o, o.inner.count)})),
              "elsewhere.count is bad");
    EXPECT_EQ(message(config::OptionError("{} is bad", {config::option_key(o, o.flat.count)})),
              "teacher.train.count is bad");
  }
  // Gone with the scope; a copy of the struct is not the placed one.
  EXPECT_EQ(message(config::OptionError("{}", {config::option_key(o, o.rate)})), "rate");
  const config::KeyScope keys(o, "x");
  Outer copy = o;
  EXPECT_EQ(message(config::OptionError("{}", {config::option_key(copy, copy.rate)})), "rate");
}

TEST(OptionError, ExtraPlaceholdersAndKeysAreLeftAlone) {
  Outer o;
  EXPECT_EQ(message(config::OptionError("{} and {}", {config::option_key(o, o.rate)})),
            "rate and {}");
  EXPECT_EQ(message(config::OptionError("no slot", {config::option_key(o, o.rate)})), "no slot");
}

// The configuration's sections, whose structs live next to their components, are named by their
// keys under a scope over the whole configuration.
TEST(OptionError, TheAssembledConfigurationNamesEveryComponentsKeys) {
  ExperimentConfig c;
  const config::KeyScope keys(c);
  auto name = [](const config::OptionKey& key) { return config::key_name(key); };
  EXPECT_EQ(name(config::option_key(c.train, c.train.lr)), "train.lr");
  EXPECT_EQ(name(config::option_key(c.train, c.train.copy.lr)), "train.copy.lr");
  EXPECT_EQ(name(config::option_key(c.teacher.train, c.teacher.train.lr)), "teacher.train.lr");
  EXPECT_EQ(name(config::option_key(c.distill, c.distill.loss)), "distill.loss");
  EXPECT_EQ(name(config::option_key(c.distill.ranking, c.distill.ranking.sigma)), "distill.sigma");
  EXPECT_EQ(name(config::option_key(c.distill.sampling, c.distill.sampling.top_negatives)),
            "distill.top_negatives");
}

// One default per option: the teacher's training shares the student's keys with defaults of its
// own.
TEST(TrainingOptions, TheTeachersDefaultsAreItsOwn) {
  const ExperimentConfig c;
  EXPECT_EQ(c.train.lr, 3e-5);
  EXPECT_EQ(c.train.warmup_steps, 500);
  EXPECT_EQ(c.teacher.train.lr, 1e-4);
  EXPECT_EQ(c.teacher.train.warmup_steps, 0);
  EXPECT_EQ(c.teacher.train.global_batch, 16);
  EXPECT_EQ(c.teacher.train.clip_norm, 1.0);
}

}  // namespace
}  // namespace dgr
