// ParseHfConfig on config.json texts shaped like the real Llama-3 and Qwen2 ones (cut down).
#include "engine/checkpoint/hf_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Llama() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "attention_bias": false, "mlp_bias": false, "hidden_act": "silu",
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072,
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 500000.0,
    "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256})");
}

Json Qwen2() {
  return Json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
    "bos_token_id": 151643, "eos_token_id": 151645, "hidden_size": 896,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
    "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
    "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936})");
}

absl::StatusOr<HfConfig> Parse(const Json& j) { return ParseHfConfig(j.dump(), "m/config.json"); }

std::string Error(const Json& j) {
  absl::StatusOr<HfConfig> c = Parse(j);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("m/config.json"));
  return std::string(c.status().message());
}

TEST(HfConfigTest, ReadsALlama3Config) {
  absl::StatusOr<HfConfig> c = Parse(Llama());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_FALSE(c->qkv_bias);
  const ModelConfig& m = c->model;
  EXPECT_EQ(m.vocab_size, 128256);
  EXPECT_EQ(m.hidden_size, 2048);
  EXPECT_EQ(m.num_layers, 16);
  EXPECT_EQ(m.num_heads, 32);
  EXPECT_EQ(m.num_kv_heads, 8);
  EXPECT_EQ(m.head_dim, 64);  // hidden / heads
  EXPECT_EQ(m.intermediate_size, 8192);
  EXPECT_EQ(m.max_context, 131072);
  EXPECT_FLOAT_EQ(m.rope_theta, 500000.0f);
  EXPECT_FLOAT_EQ(m.rms_norm_eps, 1e-5f);
  EXPECT_TRUE(m.tie_word_embeddings);
  EXPECT_EQ(m.bos_token_id, 128000);
  EXPECT_EQ(m.eos_token_id, 128001);
  EXPECT_THAT(m.more_eos_token_ids, ElementsAre(128008, 128009));
  EXPECT_EQ(m.pad_token_id, -1);
}

TEST(HfConfigTest, ReadsAQwen2ConfigWithBiases) {
  absl::StatusOr<HfConfig> c = Parse(Qwen2());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_EQ(c->model.head_dim, 64);  // 896 / 14
  EXPECT_EQ(c->model.num_kv_heads, 2);
  EXPECT_EQ(c->model.eos_token_id, 151645);
  EXPECT_TRUE(c->model.more_eos_token_ids.empty());
}

TEST(HfConfigTest, DefaultsFollowHuggingFace) {
  Json j = Llama();
  for (const char* f : {"num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings",
                        "max_position_embeddings", "bos_token_id", "eos_token_id"}) {
    j.erase(f);
  }
  absl::StatusOr<HfConfig> c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.num_kv_heads, 32);
  EXPECT_FLOAT_EQ(c->model.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c->model.rms_norm_eps, 1e-6f);
  EXPECT_FALSE(c->model.tie_word_embeddings);
  EXPECT_EQ(c->model.max_context, 2048);
  EXPECT_EQ(c->model.eos_token_id, -1);
  Json q = Qwen2();
  q.erase("max_position_embeddings");
  EXPECT_EQ(Parse(q)->model.max_context, 32768);
}

TEST(HfConfigTest, AnExplicitHeadDimWins) {
  Json j = Llama();
  j["head_dim"] = 128;
  absl::StatusOr<HfConfig> c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.head_dim, 128);
  EXPECT_EQ(c->model.q_size(), 4096);
}

TEST(HfConfigTest, ErrorsNameTheField) {
  Json missing = Llama();
  missing.erase("hidden_size");
  EXPECT_THAT(Error(missing), HasSubstr("\"hidden_size\" is missing"));
  Json text = Llama();
  text["num_hidden_layers"] = "sixteen";
  EXPECT_THAT(Error(text), HasSubstr("num_hidden_layers"));
  Json negative = Llama();
  negative["intermediate_size"] = -1;
  EXPECT_THAT(Error(negative), HasSubstr("intermediate_size"));
  Json huge = Llama();
  huge["vocab_size"] = 1ull << 40;
  EXPECT_THAT(Error(huge), HasSubstr("vocab_size"));
  Json eos = Llama();
  eos["eos_token_id"] = Json::array({128001, 999999});
  EXPECT_THAT(Error(eos), HasSubstr("eos_token_id"));
  Json heads = Llama();
  heads["num_key_value_heads"] = 5;
  EXPECT_THAT(Error(heads), HasSubstr("num_kv_heads"));
  Json indivisible = Llama();
  indivisible["num_attention_heads"] = 30;
  EXPECT_THAT(Error(indivisible), HasSubstr("num_attention_heads"));
  Json theta = Llama();
  theta["rope_theta"] = "big";
  EXPECT_THAT(Error(theta), HasSubstr("rope_theta"));
  EXPECT_THAT(Error(Json::array()), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseHfConfig("{oops", "m/config.json").status().message(),
              HasSubstr("not valid JSON"));
}

TEST(HfConfigTest, RefusesWhatTheEngineDoesNotCompute) {
  Json mistral = Llama();
  mistral["model_type"] = "mistral";
  EXPECT_THAT(Error(mistral), HasSubstr("model_type"));
  Json untyped = Llama();
  untyped.erase("model_type");
  EXPECT_THAT(Error(untyped), HasSubstr("model_type"));
  Json scaling = Llama();
  scaling["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}};
  EXPECT_THAT(Error(scaling), HasSubstr("rope_scaling"));
  Json gelu = Llama();
  gelu["hidden_act"] = "gelu";
  EXPECT_THAT(Error(gelu), HasSubstr("hidden_act"));
  Json bias = Llama();
  bias["attention_bias"] = true;
  EXPECT_THAT(Error(bias), HasSubstr("attention_bias"));
  Json sliding = Qwen2();
  sliding["use_sliding_window"] = true;
  EXPECT_THAT(Error(sliding), HasSubstr("use_sliding_window"));
}

}  // namespace
}  // namespace kvserve
