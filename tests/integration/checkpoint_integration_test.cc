// kvserve --model <checkpoint dir> end to end: the daemon loads a tiny random Hugging Face
// checkpoint written at test time (tests/checkpoint/make_checkpoints.py), encodes text prompts with
// its tokenizer.json (byte-level BPE) and streams decoded text; a broken checkpoint makes it exit
// non-zero naming the file and the tensor.
//
// The checkpoints' vocabulary: ids 0..255 are bytes, 256..265 the merges listed in kMerged below,
// 266..268 special tokens, 269 the non-special added token "[NS]"; the model has 272 ids. The
// llama_f32 checkpoint's LM head can only pick printable ASCII, merged tokens and "[NS]", so its
// greedy output is plain ASCII and the expected text follows from the token ids by hand.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/checkpoint/test_checkpoints.h"
#include "tests/integration/daemon_process.h"
#include "tests/server/generate_client.h"

namespace kvserve::testing {
namespace {

using ::testing::HasSubstr;

// What ids 256..265 stand for (the merges "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or",
// "Ġ t", "Ġt he", "e r" in the script).
const char* const kMerged[] = {"he", "ll", "hell", "hello", " w", "or", " wor", " t", " the", "er"};

std::string DecodeByHand(const std::vector<int32_t>& ids) {
  std::string text;
  for (int32_t id : ids) {
    if (id >= 0 && id < 256) {
      text.push_back(static_cast<char>(id));
    } else if (id >= 256 && id < 266) {
      text += kMerged[id - 256];
    } else if (id == 269) {
      text += "[NS]";
    }  // 266..268 special, 270..271 outside the tokenizer: no text
  }
  return text;
}

class CheckpointDaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(WriteTestCheckpoints(
        absl::StrCat(KVSERVE_SOURCE_DIR, "/tests/checkpoint/make_checkpoints.py")));
    ASSERT_FALSE(dir_->empty()) << "make_checkpoints.py failed";
  }
  static void TearDownTestSuite() {
    RemoveTestCheckpoints(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  void StartDaemon(const std::string& checkpoint, const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {"--model=" + *dir_ + "/" + checkpoint, "--num_pages=64"};
    args.insert(args.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(KVSERVE_BINARY, args);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    stub_ = v1::Generation::NewStub(
        grpc::CreateChannel(daemon_->target(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::fprintf(stderr, "--- kvserve stderr ---\n%s\n", daemon_->Stderr().c_str());
    }
  }

  static std::string* dir_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};
std::string* CheckpointDaemonTest::dir_ = nullptr;

TEST_F(CheckpointDaemonTest, ServesTextThroughTheCheckpointsTokenizer) {
  StartDaemon("llama_f32");
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("checkpoint"));
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("byte-level BPE"));
  const v1::ServerInfo info = GetInfo(*stub_);
  EXPECT_EQ(info.model_name(), "llama_f32");
  EXPECT_EQ(info.vocab_size(), 272);
  EXPECT_EQ(info.num_kv_heads(), 2);
  EXPECT_EQ(info.eos_token_id(), 266);

  // "hello world" is four BPE tokens: hello, " wor", "l", "d".
  const StreamResult r = RunGenerate(*stub_, TextRequest("hello world", 12));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().usage().prompt_tokens(), 4);
  EXPECT_EQ(r.messages.back().usage().completion_tokens(), 12);
  ASSERT_EQ(r.tokens.size(), 12u);
  EXPECT_EQ(r.text, DecodeByHand(r.tokens));
  // Merged tokens, not just bytes, come out (a byte-only decoder would lose their text).
  bool merged = false;
  for (int32_t id : r.tokens) merged = merged || (id >= 256 && id < 266) || id == 269;
  EXPECT_TRUE(merged) << "no merged token among " << r.text;

  // Special tokens in the text are matched whole; the same prompt as ids gives the same tokens.
  const StreamResult special = RunGenerate(*stub_, TextRequest("<|im_start|>hello", 3));
  ASSERT_TRUE(special.status.ok()) << special.status.error_message();
  EXPECT_EQ(special.messages.back().usage().prompt_tokens(), 2);
  v1::GenerateRequest ids = TextRequest("", 3);
  ids.mutable_token_ids()->add_ids(267);
  ids.mutable_token_ids()->add_ids(259);
  const StreamResult by_ids = RunGenerate(*stub_, ids);
  ASSERT_TRUE(by_ids.status.ok()) << by_ids.status.error_message();
  EXPECT_EQ(by_ids.tokens, special.tokens);
}

TEST_F(CheckpointDaemonTest, ServesAShardedBf16Qwen2Checkpoint) {
  StartDaemon("qwen2_bf16");
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("qwen2"));
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("BF16 weights as bf16"));  // kept 16-bit
  const StreamResult r = RunGenerate(*stub_, TextRequest("the other", 6, /*ignore_eos=*/true));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  // "the" → t, he; " other" → Ġ, o, t, he, r.
  EXPECT_EQ(r.messages.back().usage().prompt_tokens(), 7);
  EXPECT_EQ(r.tokens.size(), 6u);
}

// --weights_dtype: the bf16 checkpoint served from 16-bit weights in place (HalfLinear), widened to
// f32 (oneDNN), and narrowed to f16 (rounding: bf16 has more exponent, f16 more mantissa) gives
// the same greedy tokens; bf16 and f32 compute the same products, only the summation order differs.
TEST_F(CheckpointDaemonTest, WeightsDtypeServesTheSameGreedyTokens) {
  std::vector<std::vector<int32_t>> tokens;
  for (const char* dtype : {"auto", "f32", "f16"}) {
    SCOPED_TRACE(dtype);
    StartDaemon("qwen2_bf16", {absl::StrCat("--weights_dtype=", dtype)});
    EXPECT_THAT(
        daemon_->Stderr(),
        HasSubstr(absl::StrCat("BF16 weights as ", dtype == std::string("auto") ? "bf16" : dtype)));
    const StreamResult r = RunGenerate(*stub_, TextRequest("the other", 12, /*ignore_eos=*/true));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    tokens.push_back(r.tokens);
    daemon_.reset();
  }
  EXPECT_EQ(tokens[0], tokens[1]);
  EXPECT_EQ(tokens[0], tokens[2]);
  // A 16-bit KV cache serves the same request to the end (its tokens may differ: K and V are
  // rounded), and the start-up line says so.
  StartDaemon("qwen2_bf16", {"--kv_cache_dtype=bf16"});
  EXPECT_THAT(daemon_->Stderr(), HasSubstr(" MiB (bf16); prefix caching"));
  const StreamResult r = RunGenerate(*stub_, TextRequest("the other", 12, /*ignore_eos=*/true));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.tokens.size(), 12u);
}

TEST_F(CheckpointDaemonTest, BrokenCheckpointsStopTheDaemonWithTheirError) {
  const CommandResult shape = RunCommand(
      KVSERVE_BINARY, {"--model=" + *dir_ + "/broken_wrong_shape", "--port=0"}, absl::Seconds(60));
  EXPECT_EQ(shape.exit_code, 1);
  EXPECT_THAT(shape.err, HasSubstr("broken_wrong_shape/model.safetensors"));
  EXPECT_THAT(shape.err, HasSubstr("model.layers.0.self_attn.k_proj.weight"));

  const CommandResult truncated = RunCommand(
      KVSERVE_BINARY, {"--model=" + *dir_ + "/broken_truncated", "--port=0"}, absl::Seconds(60));
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_THAT(truncated.err, HasSubstr("truncated"));

  std::filesystem::copy(*dir_ + "/llama_f32", *dir_ + "/no_tokenizer",
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove(*dir_ + "/no_tokenizer/tokenizer.json");
  const CommandResult no_tokenizer = RunCommand(
      KVSERVE_BINARY, {"--model=" + *dir_ + "/no_tokenizer", "--port=0"}, absl::Seconds(60));
  EXPECT_EQ(no_tokenizer.exit_code, 1);
  EXPECT_THAT(no_tokenizer.err, HasSubstr("no_tokenizer/tokenizer.json: no such file"));

  const CommandResult missing = RunCommand(
      KVSERVE_BINARY, {"--model=" + *dir_ + "/not_there", "--port=0"}, absl::Seconds(60));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("not_there: no such directory"));
}

}  // namespace
}  // namespace kvserve::testing
