// What Progress prints on a terminal and in a log, driven by a fake clock (no timing asserts).
#include "core/util/progress.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace dgr {
namespace {

struct FakeClock {
  double now = 100.0;  // any origin: Progress measures from its construction
};

ProgressOptions options_for(std::ostringstream& out, FakeClock& clock, bool terminal) {
  ProgressOptions options;
  options.out = &out;
  options.terminal = terminal;
  options.clock = [&clock] { return clock.now; };
  return options;
}

TEST(FormatDuration, PicksUnitsByMagnitude) {
  EXPECT_EQ(format_duration(0), "0.0s");
  EXPECT_EQ(format_duration(4.25), "4.2s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(7380), "2h03m");
  EXPECT_EQ(format_duration(-1), "0.0s");
}

TEST(ProgressInLog, WritesOneLineEveryIntervalAndASummary) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressOptions options = options_for(out, clock, false);
    options.log_interval_s = 30;
    Progress progress("encode", 100, true, options);
    clock.now += 10;
    progress.add(10);  // before the first interval: nothing
    EXPECT_EQ(out.str(), "");
    clock.now += 20;
    progress.add(20);  // 30 s: 30/100 at 1/s
    clock.now += 5;
    progress.add(5);  // 35 s: within the interval, nothing
    clock.now += 25;
    progress.add(25);  // 60 s: 60/100 at 1/s, 40 s to go
    clock.now += 20;
    progress.add(40);  // 80 s: within the interval, nothing
    clock.now += 20;
    progress.finish();
    progress.finish();  // once only
  }
  EXPECT_EQ(out.str(),
            "encode: 30/100 (30.0%), 1.0/s, ETA 1m10s\n"
            "encode: 60/100 (60.0%), 1.0/s, ETA 40.0s\n"
            "encode: done, 100 in 1m40s (1.0/s)\n");
}

TEST(ProgressInLog, UnknownTotalShowsCountRateAndElapsed) {
  std::ostringstream out;
  FakeClock clock;
  ProgressOptions options = options_for(out, clock, false);
  options.log_interval_s = 2;
  Progress progress("queries", 0, true, options);
  clock.now += 2;
  progress.add(500);
  clock.now += 2;
  progress.finish();
  EXPECT_EQ(out.str(),
            "queries: 500, 250/s, elapsed 2.0s\n"
            "queries: done, 500 in 4.0s (125/s)\n");
}

TEST(ProgressInLog, EarlyFinishShowsTheTotalItMissed) {
  std::ostringstream out;
  FakeClock clock;
  Progress progress("shards", 8, true, options_for(out, clock, false));
  progress.add(3);
  clock.now += 1.5;
  progress.finish();
  EXPECT_EQ(out.str(), "shards: done, 3/8 in 1.5s (2.0/s)\n");
}

TEST(ProgressOnTerminal, RedrawsOneLineAtMostTenTimesASecond) {
  std::ostringstream out;
  FakeClock clock;
  clock.now = 0;  // steps below are exact in binary floating point
  {
    Progress progress("index", 200, true, options_for(out, clock, true));
    progress.add(0);  // the first call draws at once; no time has passed, so no rate yet
    clock.now += 0.0625;
    progress.add(10);  // 62.5 ms after the last draw: skipped
    clock.now += 0.0625;
    progress.add(20);  // 125 ms: 30/200 at 240/s
    clock.now += 1.875;
    progress.add(70);  // 2 s: 100/200 at 50/s
    clock.now += 2;
    progress.add(100);  // 4 s: complete
    progress.finish();
  }
  const std::string last = "index 200/200 100.0% 50.0/s ETA 0.0s";
  const std::string summary = "index: done, 200 in 4.0s (50.0/s)";
  ASSERT_LT(summary.size(), last.size());
  const std::string expected =
      "\rindex 0/200 0.0% -/s ETA ?"
      "\rindex 30/200 15.0% 240/s ETA 0.7s"
      "\rindex 100/200 50.0% 50.0/s ETA 2.0s"
      "\r" +
      last +
      // the summary is padded with blanks over the longer line before it
      "\r" + summary + std::string(last.size() - summary.size(), ' ') + "\n";
  EXPECT_EQ(out.str(), expected);
}

TEST(ProgressOnTerminal, DestructorEndsADrawnLineWithoutASummary) {
  std::ostringstream out;
  FakeClock clock;
  {
    Progress progress("train", 0, true, options_for(out, clock, true));
    clock.now += 1;
    progress.add(7);
  }
  EXPECT_EQ(out.str(), "\rtrain 7 7.0/s 1.0s\n");
}

TEST(Progress, DisabledCountsButPrintsNothing) {
  std::ostringstream out;
  FakeClock clock;
  for (bool terminal : {false, true}) {
    Progress progress("quiet", 10, false, options_for(out, clock, terminal));
    clock.now += 100;
    progress.add(4);
    progress.add(6);
    progress.finish();
    EXPECT_EQ(progress.count(), 10);
  }
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace dgr
