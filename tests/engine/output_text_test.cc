// OutputText: stop strings matched across token boundaries, held-back text, UTF-8 split across
// tokens, include_stop, and the earliest of several matches. On the byte vocabulary (one id per
// byte), so every multi-byte stop string spans tokens.
#include "engine/sched/output_text.h"

#include <string>
#include <vector>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

struct Streamed {
  std::vector<std::string> released;  // per token
  std::string text;                   // everything released, Finish() included if no match
  int32_t stop = -1;
  size_t stop_token = 0;  // index of the token that completed the stop
};

Streamed Feed(const std::string& output, std::vector<std::string> stops, bool include_stop = false,
              int32_t extra_token = -1) {
  static const ByteTokenizer tokenizer;
  OutputText text(&tokenizer, &stops, include_stop);
  Streamed run;
  std::vector<int32_t> ids(output.begin(), output.end());
  for (int32_t& id : ids) id &= 0xFF;
  if (extra_token >= 0) ids.insert(ids.begin() + 1, extra_token);
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece;
    run.stop = text.Add(ids[i], /*check_stops=*/true, &piece);
    run.released.push_back(piece);
    run.text += piece;
    if (run.stop >= 0) {
      run.stop_token = i;
      return run;
    }
  }
  std::string rest;
  text.Finish(&rest);
  run.released.push_back(rest);
  run.text += rest;
  return run;
}

TEST(OutputTextTest, WithoutStopsEverythingIsReleasedAtOnce) {
  const Streamed run = Feed("hello", {});
  EXPECT_EQ(run.text, "hello");
  EXPECT_EQ(run.released[0], "h");
  EXPECT_EQ(run.released[4], "o");
  EXPECT_EQ(run.stop, -1);
}

TEST(OutputTextTest, AStopAcrossTokensCutsTheTextBeforeIt) {
  const Streamed run = Feed("one\n\ntwo", {"\n\n"});
  EXPECT_EQ(run.stop, 0);
  EXPECT_EQ(run.text, "one");
  EXPECT_EQ(run.stop_token, 4u);   // the second newline completed it
  EXPECT_EQ(run.released[3], "");  // the first newline was held back: it might start the stop
}

TEST(OutputTextTest, HeldBackTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  const Streamed run = Feed("ab\nc", {"\n\n"});
  EXPECT_EQ(run.stop, -1);
  EXPECT_EQ(run.released[2], "");     // "\n" held
  EXPECT_EQ(run.released[3], "\nc");  // released with the next token
  EXPECT_EQ(run.text, "ab\nc");
}

TEST(OutputTextTest, HeldBackTextComesOutAtFinish) {
  const Streamed run = Feed("abc<st", {"<stop>"});
  EXPECT_EQ(run.stop, -1);
  EXPECT_EQ(run.released[5], "");
  EXPECT_EQ(run.released.back(), "<st");
  EXPECT_EQ(run.text, "abc<st");
}

TEST(OutputTextTest, IncludeStopKeepsTheMatchAndDropsWhatFollowsItInTheSameToken) {
  EXPECT_EQ(Feed("x END y", {"END"}, /*include_stop=*/true).text, "x END");
  EXPECT_EQ(Feed("x END y", {"END"}).text, "x ");
}

TEST(OutputTextTest, TheEarliestMatchWinsAndIsReportedByIndex) {
  // "cd" completes first (at token 3); "bcde" would complete later.
  const Streamed run = Feed("abcdef", {"bcde", "cd"});
  EXPECT_EQ(run.stop, 1);
  EXPECT_EQ(run.text, "ab");
  // Both complete with the same token: the one that starts earlier wins.
  const Streamed tie = Feed("abcd", {"cd", "abcd"});
  EXPECT_EQ(tie.stop, 1);
  EXPECT_EQ(tie.text, "");
}

TEST(OutputTextTest, AMultiByteCharacterSplitAcrossTokensIsMatchedWhole) {
  // "é" is C3 A9: two tokens; the stop "é!" needs both and the next.
  const Streamed run = Feed("caf\xC3\xA9! more", {"\xC3\xA9!"});
  EXPECT_EQ(run.stop, 0);
  EXPECT_EQ(run.text, "caf");
  // Without the stop, the character is released whole, once complete.
  const Streamed free = Feed("caf\xC3\xA9", {"zz"});
  EXPECT_EQ(free.released[3], "");
  EXPECT_EQ(free.released[4], "\xC3\xA9");
}

TEST(OutputTextTest, SpecialTokensHaveNoTextAndDoNotBreakAMatch) {
  // EOS (257) between 'a' and 'b' adds nothing; "ab" still matches across it.
  const Streamed run = Feed("xab", {"ab"}, false, /*extra_token=*/257);
  EXPECT_EQ(run.stop, 0);
  EXPECT_EQ(run.text, "x");
}

TEST(OutputTextTest, WithoutCheckingStopsNothingIsHeldOrMatched) {
  static const ByteTokenizer tokenizer;
  const std::vector<std::string> stops = {"ab"};
  OutputText text(&tokenizer, &stops, false);
  std::string out;
  EXPECT_EQ(text.Add('a', /*check_stops=*/false, &out), -1);
  EXPECT_EQ(out, "a");
  EXPECT_EQ(text.Add('b', /*check_stops=*/false, &out), -1);
  EXPECT_EQ(out, "ab");
}

TEST(OutputTextTest, WithoutATokenizerThereIsNoText) {
  const std::vector<std::string> stops = {"a"};
  OutputText text(nullptr, &stops, false);
  std::string out;
  EXPECT_EQ(text.Add('a', true, &out), -1);
  text.Finish(&out);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace kvserve
