#include "clients/kvload/progress_line.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

TEST(ProgressLineTest, FormatShowsDoneTotalRateAndErrors) {
  ProgressSnapshot s;
  s.done = 12;
  s.total = 500;
  s.errors = 3;
  s.in_flight = 64;
  s.elapsed_s = 6;
  EXPECT_EQ(ProgressLine::Format("kvload", s, 1234.4),
            "kvload: 12/500 done  1234 tok/s  3 errors  64 in flight  6s elapsed  ETA 244s");
  s.total = 0;
  EXPECT_EQ(ProgressLine::Format("kvload", s, 0),
            "kvload: 12 done  0 tok/s  3 errors  64 in flight  6s elapsed");
  s.duration_s = 60;
  EXPECT_EQ(ProgressLine::Format("kvload", s, 0),
            "kvload: 12 done  0 tok/s  3 errors  64 in flight  6s elapsed  ETA 54s");
}

TEST(ProgressLineTest, EtaScalesElapsedByWhatIsLeftAndRespectsTheDuration) {
  ProgressSnapshot s;
  s.total = 100;
  s.elapsed_s = 10;
  EXPECT_LT(EstimateSecondsLeft(s), 0);  // nothing done yet: no estimate
  s.done = 25;
  EXPECT_DOUBLE_EQ(EstimateSecondsLeft(s), 30);
  s.duration_s = 15;  // the duration ends the run first
  EXPECT_DOUBLE_EQ(EstimateSecondsLeft(s), 5);
  s.done = 100;
  EXPECT_DOUBLE_EQ(EstimateSecondsLeft(s), 0);
}

TEST(ProgressLineTest, SilentWhenDisabled) {
  ProgressLine line(nullptr, "kvload");
  EXPECT_FALSE(line.enabled());
  line.Update(ProgressSnapshot{}, /*force=*/true);  // must not crash or print
  line.Finish();
}

TEST(ProgressLineTest, RewritesInPlaceAtMostFourTimesASecond) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressLine line(f, "kvload");
  ProgressSnapshot s;
  s.total = 10;
  for (int i = 0; i < 100; ++i) {  // a tight loop: only the first update may print
    s.done = i;
    line.Update(s);
  }
  line.Update(s, /*force=*/true);
  line.Finish();
  std::rewind(f);
  std::string text;
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) text.push_back(static_cast<char>(c));
  std::fclose(f);
  int rewrites = 0;
  for (char c : text) rewrites += c == '\r';
  EXPECT_LE(rewrites, 2 + 2);  // first, forced, and Finish's clear (two '\r')
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_NE(text.find("99/10 done"), std::string::npos);
}

}  // namespace
}  // namespace kvserve::load
