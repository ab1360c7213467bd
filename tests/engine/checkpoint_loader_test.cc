// LoadCheckpoint on tiny random Hugging Face checkpoints written at test time by
// tests/checkpoint/make_checkpoints.py (NumPy; safetensors bytes written directly).
//
// Ground truth: the script's own float64 NumPy forward pass (written from the HF Llama/Qwen2
// definitions, independent of engine/), stored as reference.json next to each checkpoint. The
// engine (ModelRunner: oneDNN fp32 + paged attention) must match it to ~1e-3 relative; the
// double-precision ReferenceForward over the loaded weights must match it to ~1e-9, which pins the
// tensor layout exactly. Broken checkpoints must be refused naming the file and the tensor.
#include "engine/checkpoint/checkpoint_loader.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/cache/page_pool.h"
#include "engine/lab/reference_model.h"
#include "engine/model/model_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/checkpoint/test_checkpoints.h"

namespace kvserve {
namespace {

using ::testing::HasSubstr;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Reference {
  std::vector<int32_t> tokens;
  std::vector<std::vector<double>> logits;  // [position][vocab]
};

Reference ReadReference(const std::string& dir) {
  const nlohmann::json j = nlohmann::json::parse(ReadText(dir + "/reference.json"));
  return Reference{j.at("tokens").get<std::vector<int32_t>>(),
                   j.at("logits").get<std::vector<std::vector<double>>>()};
}

// Worst |got - want| over a row, relative to the row's largest |want| (at least 1).
double RelativeError(const std::vector<double>& want, absl::Span<const float> got) {
  double worst = 0, scale = 1;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(want[i] - got[i]));
  return worst / scale;
}

class CheckpointLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::WriteTestCheckpoints(KVSERVE_MAKE_CHECKPOINTS));
    ASSERT_FALSE(dir_->empty()) << "running " << KVSERVE_MAKE_CHECKPOINTS << " failed";
  }
  static void TearDownTestSuite() {
    testing::RemoveTestCheckpoints(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  static std::string* dir_;
};
std::string* CheckpointLoaderTest::dir_ = nullptr;

// The engine's logits after each position of `tokens`: the first `prefill` tokens in one chunk,
// then one decode step per token. Row i is the logits after token prefill - 1 + i.
std::vector<std::vector<float>> EngineLogits(std::shared_ptr<const ModelWeights> weights,
                                             const std::vector<int32_t>& tokens, int prefill) {
  auto runner = ModelRunner::Create(weights, {.max_batched_tokens = 64, .max_num_seqs = 4});
  EXPECT_TRUE(runner.ok()) << runner.status();
  auto pool = PagePool::Create((*runner)->KvGeometry(4), 16);
  EXPECT_TRUE(pool.ok()) << pool.status();
  BatchingKvCache cache(*std::move(pool));
  EXPECT_TRUE(cache.AddRequest(1).ok());
  std::vector<std::vector<float>> rows;
  const int32_t vocab = weights->config.vocab_size;
  for (size_t begin = 0; begin < tokens.size();) {
    const size_t end = begin == 0 ? prefill : begin + 1;
    const std::vector<int32_t> chunk(tokens.begin() + begin, tokens.begin() + end);
    EXPECT_TRUE(cache.Extend(1, static_cast<int32_t>(chunk.size())).ok());
    auto batch = cache.BuildBatch({{1, static_cast<int32_t>(chunk.size())}});
    EXPECT_TRUE(batch.ok()) << batch.status();
    auto logits = (*runner)->Step(cache, *batch, chunk);
    EXPECT_TRUE(logits.ok()) << logits.status();
    rows.emplace_back(logits->begin(), logits->begin() + vocab);
    begin = end;
  }
  return rows;
}

class GoodCheckpointTest : public CheckpointLoaderTest,
                           public ::testing::WithParamInterface<const char*> {};

TEST_P(GoodCheckpointTest, EngineLogitsMatchTheNumpyReference) {
  const std::string dir = Path(GetParam());
  absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Reference ref = ReadReference(dir);
  ASSERT_EQ(ref.logits.size(), ref.tokens.size());
  auto weights = std::make_shared<const ModelWeights>(std::move(loaded->weights));

  // The loaded tensors, run through the double-precision reference: only layout errors show.
  const std::vector<std::vector<double>> exact = ReferenceForward(*weights, ref.tokens);
  for (size_t t = 0; t < ref.tokens.size(); ++t) {
    double worst = 0;
    for (size_t v = 0; v < exact[t].size(); ++v) {
      worst = std::max(worst, std::abs(exact[t][v] - ref.logits[t][v]));
    }
    EXPECT_LT(worst, 1e-9) << "position " << t;
  }

  constexpr int kPrefill = 5;
  const std::vector<std::vector<float>> engine = EngineLogits(weights, ref.tokens, kPrefill);
  ASSERT_EQ(engine.size(), ref.tokens.size() - kPrefill + 1);
  for (size_t i = 0; i < engine.size(); ++i) {
    EXPECT_LT(RelativeError(ref.logits[kPrefill - 1 + i], engine[i]), 1e-3)
        << "position " << kPrefill - 1 + i;
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, GoodCheckpointTest,
                         ::testing::Values("llama_f32", "qwen2_bf16", "llama_f16_tied"));

TEST_F(CheckpointLoaderTest, ReadsTheConfigAndReportsWhatItRead) {
  absl::StatusOr<LoadedCheckpoint> llama = LoadCheckpoint(Path("llama_f32"));
  ASSERT_TRUE(llama.ok()) << llama.status();
  const ModelConfig& c = llama->weights.config;
  EXPECT_EQ(c.name, "llama_f32");
  EXPECT_EQ(llama->hf_config.model_type, "llama");
  EXPECT_FALSE(llama->hf_config.qkv_bias);
  EXPECT_EQ(c.vocab_size, 272);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_FLOAT_EQ(c.rope_theta, 50000.0f);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(llama->weights.lm_head.size(), 272 * 32);
  EXPECT_TRUE(llama->weights.layers[0].qkv_bias.empty());
  EXPECT_EQ(llama->dtypes, std::vector<std::string>{"F32"});
  EXPECT_EQ(llama->files.size(), 1u);

  absl::StatusOr<LoadedCheckpoint> qwen = LoadCheckpoint(Path("qwen2_bf16"));
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_TRUE(qwen->hf_config.qkv_bias);
  EXPECT_EQ(qwen->weights.layers[1].qkv_bias.size(), (4u + 2u) * 8u);
  EXPECT_TRUE(qwen->weights.config.tie_word_embeddings);
  EXPECT_TRUE(qwen->weights.lm_head.empty());
  EXPECT_EQ(qwen->weights.config.eos_token_id, 266);  // the first of the list
  EXPECT_EQ(qwen->weights.config.more_eos_token_ids, (std::vector<int32_t>{268}));
  EXPECT_EQ(qwen->files.size(), 2u);
  EXPECT_EQ(qwen->dtypes, std::vector<std::string>{"BF16"});

  absl::StatusOr<LoadedCheckpoint> f16 = LoadCheckpoint(Path("llama_f16_tied"));
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_EQ(f16->weights.config.head_dim, 12);  // given, not hidden / heads
  EXPECT_EQ(f16->weights.config.q_size(), 24);
}

// Matrices keep the files' 16-bit dtype bit for bit (never widened), or take the one asked for,
// rounded to nearest even; norms and biases are fp32 either way.
TEST_F(CheckpointLoaderTest, KeepsSixteenBitMatricesSixteenBitOrConvertsOnRequest) {
  for (const auto& [name, own] : {std::pair{"llama_f32", FloatDtype::kF32},
                                  {"qwen2_bf16", FloatDtype::kBF16},
                                  {"llama_f16_tied", FloatDtype::kF16}}) {
    SCOPED_TRACE(name);
    absl::StatusOr<LoadedCheckpoint> native = LoadCheckpoint(Path(name));
    absl::StatusOr<LoadedCheckpoint> wide =
        LoadCheckpoint(Path(name), {.matrix_dtype = FloatDtype::kF32});
    ASSERT_TRUE(native.ok()) << native.status();
    ASSERT_TRUE(wide.ok()) << wide.status();
    const ModelWeights& n = native->weights;
    const ModelWeights& w = wide->weights;
    EXPECT_EQ(n.matrix_dtype(), own);
    EXPECT_EQ(w.matrix_dtype(), FloatDtype::kF32);
    // Widening is exact, so narrowing the f32 load again gives the native load back.
    EXPECT_TRUE(n.embedding == w.embedding.ConvertedTo(own));
    EXPECT_TRUE(n.layers[1].gate_up == w.layers[1].gate_up.ConvertedTo(own));
    EXPECT_TRUE(n.layers[0].qkv == w.layers[0].qkv.ConvertedTo(own));
    EXPECT_EQ(n.layers[0].attn_norm, w.layers[0].attn_norm);
    EXPECT_EQ(n.layers[1].qkv_bias, w.layers[1].qkv_bias);
    if (own != FloatDtype::kF32) {
      // Half the bytes, but for the fp32 norms and biases.
      EXPECT_LT(n.num_bytes(), w.num_bytes() * 0.6);
      EXPECT_EQ(n.num_parameters(), w.num_parameters());
    }
    for (FloatDtype asked : {FloatDtype::kBF16, FloatDtype::kF16}) {
      absl::StatusOr<LoadedCheckpoint> as = LoadCheckpoint(Path(name), {.matrix_dtype = asked});
      ASSERT_TRUE(as.ok()) << as.status();
      EXPECT_EQ(as->weights.matrix_dtype(), asked);
      EXPECT_TRUE(as->weights.layers[1].down_proj == w.layers[1].down_proj.ConvertedTo(asked));
      EXPECT_TRUE(as->weights.lm_head_matrix() == w.lm_head_matrix().ConvertedTo(asked));
    }
  }
}

struct BrokenCase {
  const char* dir;
  absl::StatusCode code;
  std::vector<std::string> mentions;  // substrings the message must have
};

TEST_F(CheckpointLoaderTest, BrokenCheckpointsAreRefusedNamingFileAndTensor) {
  const BrokenCase cases[] = {
      {"broken_no_config", absl::StatusCode::kNotFound, {"config.json", "no such file"}},
      {"broken_missing_tensor",
       absl::StatusCode::kNotFound,
       {"model.layers.1.mlp.up_proj.weight", "missing", "model.safetensors"}},
      {"broken_wrong_shape",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "model.layers.0.self_attn.k_proj.weight", "[32, 16]", "[16, 32]"}},
      {"broken_dtype_i32",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "model.norm.weight", "I32"}},
      {"broken_truncated",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "lm_head.weight", "truncated"}},
      {"broken_offsets_beyond_file",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "model.layers.1.input_layernorm.weight", "past"}},
      {"broken_overlapping",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "model.norm.weight", "model.layers.0.input_layernorm.weight",
        "overlap"}},
      {"broken_missing_shard",
       absl::StatusCode::kNotFound,
       {"model-00002-of-00002.safetensors", "model.safetensors.index.json"}},
      {"broken_unexpected_tensor",
       absl::StatusCode::kInvalidArgument,
       {"model.safetensors", "model.layers.0.self_attn.q_norm.weight"}},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.dir);
    absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(Path(c.dir));
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), c.code) << loaded.status();
    for (const std::string& m : c.mentions) {
      EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(m));
    }
  }
}

TEST_F(CheckpointLoaderTest, AMissingDirectoryOrEmptyDirectoryIsNotFound) {
  EXPECT_EQ(LoadCheckpoint(Path("no_such_dir")).status().code(), absl::StatusCode::kNotFound);
  const std::string empty = Path("empty_with_config");
  std::filesystem::create_directories(empty);
  std::filesystem::copy_file(Path("llama_f32/config.json"), empty + "/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(empty);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("no *.safetensors"));
}

}  // namespace
}  // namespace kvserve
