#include "engine/model/model_weights.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/lab/reference_model.h"
#include "gtest/gtest.h"

namespace kvserve {
namespace {

TEST(ModelConfigTest, PresetsAreValidAndUnknownIsNotFound) {
  for (const std::string& name : PresetNames()) {
    auto c = PresetConfig(name);
    ASSERT_TRUE(c.ok()) << name;
    EXPECT_TRUE(c->Validate().ok()) << name;
  }
  auto tiny = PresetConfig("tiny");
  EXPECT_EQ(tiny->hidden_size, 512);
  EXPECT_EQ(tiny->num_kv_heads, 2);
  EXPECT_EQ(tiny->vocab_size, 259);
  EXPECT_EQ(PresetConfig("huge").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelConfigTest, ValidateNamesTheBadField) {
  ModelConfig c = *PresetConfig("micro");
  c.num_kv_heads = 3;  // 4 heads are not a multiple of 3
  EXPECT_NE(c.Validate().message().find("num_kv_heads"), std::string::npos);
  c = *PresetConfig("micro");
  c.hidden_size = 0;
  EXPECT_NE(c.Validate().message().find("hidden_size"), std::string::npos);
}

TEST(ModelWeightsTest, SyntheticWeightsAreDeterministicAndSeedDependent) {
  ModelConfig c = *PresetConfig("micro");
  auto a = MakeSyntheticWeights(c, 7), b = MakeSyntheticWeights(c, 7),
       d = MakeSyntheticWeights(c, 8);
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  EXPECT_TRUE(a->Validate().ok());
  EXPECT_EQ(a->layers[1].gate_up, b->layers[1].gate_up);
  EXPECT_EQ(a->embedding, b->embedding);
  EXPECT_NE(a->embedding, d->embedding);
}

TEST(ModelWeightsTest, TinyHasTheExpectedParameterCount) {
  auto w = MakeSyntheticWeights(*PresetConfig("tiny"));
  ASSERT_TRUE(w.ok());
  // 8 layers x (512*768 + 512*512 + 512*3072 + 1536*512 + 2*512) + 2 * 259*512 + 512.
  EXPECT_EQ(w->num_parameters(),
            8 * (512 * 768 + 512 * 512 + 512 * 3072 + 1536 * 512 + 1024) + 2 * 259 * 512 + 512);
}

TEST(ModelWeightsTest, ValidateCatchesWrongTensorSizes) {
  auto w = MakeSyntheticWeights(*PresetConfig("micro"));
  ASSERT_TRUE(w.ok());
  const WeightMatrix right = w->layers[1].o_proj;
  w->layers[1].o_proj = WeightMatrix(FloatDtype::kF32, right.rows(), right.cols() - 1);
  absl::Status s = w->Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layers.1.o_proj"), std::string::npos) << s;
  // One matrix in another dtype than the rest is refused too.
  w->layers[1].o_proj = right;
  EXPECT_TRUE(w->Validate().ok());
  w->layers[0].gate_up = w->layers[0].gate_up.ConvertedTo(FloatDtype::kBF16);
  s = w->Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layers.0.gate_up is bf16"), std::string::npos) << s;
}

// ConvertMatrices narrows every matrix (and only the matrices) and halves their bytes.
TEST(ModelWeightsTest, ConvertMatricesNarrowsEveryMatrixToOneDtype) {
  auto w = MakeSyntheticWeights(*PresetConfig("micro"));
  ASSERT_TRUE(w.ok());
  const ModelWeights f32 = *w;
  for (FloatDtype dtype : {FloatDtype::kBF16, FloatDtype::kF16}) {
    ModelWeights narrow = f32;
    narrow.ConvertMatrices(dtype);
    EXPECT_TRUE(narrow.Validate().ok()) << narrow.Validate();
    EXPECT_EQ(narrow.matrix_dtype(), dtype);
    EXPECT_EQ(narrow.layers.back().down_proj.dtype(), dtype);
    EXPECT_EQ(narrow.layers.back().down_proj.half()[5],
              f32.layers.back().down_proj.ConvertedTo(dtype).half()[5]);
    EXPECT_EQ(narrow.layers.back().mlp_norm, f32.layers.back().mlp_norm);  // norms stay fp32
    EXPECT_EQ(narrow.num_parameters(), f32.num_parameters());
    EXPECT_LT(narrow.num_bytes(), f32.num_bytes() * 0.51);
    EXPECT_GT(narrow.num_bytes(), f32.num_bytes() * 0.49);
  }
}

// The synthetic model must not be degenerate: logits spread over a few units, and different
// contexts prefer different tokens (so tests on generated tokens are not trivially passing).
TEST(ModelWeightsTest, SyntheticLogitsAreNeitherFlatNorConstant) {
  auto w = MakeSyntheticWeights(*PresetConfig("micro"));
  ASSERT_TRUE(w.ok());
  std::set<int> argmaxes;
  for (int start = 0; start < 12; ++start) {
    std::vector<int32_t> tokens;
    for (int i = 0; i < 6; ++i) tokens.push_back((start * 37 + i * 11) % 256);
    std::vector<double> logits = ReferenceLastLogits(*w, tokens);
    double mean = 0, var = 0;
    for (double l : logits) mean += l;
    mean /= logits.size();
    for (double l : logits) var += (l - mean) * (l - mean);
    const double stddev = std::sqrt(var / logits.size());
    EXPECT_GT(stddev, 0.5);
    EXPECT_LT(stddev, 20.0);
    argmaxes.insert(
        static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
  }
  EXPECT_GE(argmaxes.size(), 4u);
}

}  // namespace
}  // namespace kvserve
