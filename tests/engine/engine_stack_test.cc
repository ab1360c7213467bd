// EngineStack and LoadModel (engine/serving/): a model by name → runner → scheduler, as the
// daemon, kvbench and the server tests build it.
#include "engine/serving/engine_stack.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/sched/scheduler_observer.h"
#include "engine/serving/model_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/checkpoint/test_checkpoints.h"
#include "tests/support/recording_sink.h"

namespace kvserve {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

EngineStackOptions Small() {
  EngineStackOptions options;
  options.scheduler.num_pages = 32;
  options.scheduler.max_batched_tokens = 64;
  options.scheduler.max_num_seqs = 4;
  options.threads = 1;
  return options;
}

class CountingObserver : public SchedulerObserver {
 public:
  void OnStep(const StepStats&) override { steps_.fetch_add(1); }
  int64_t steps() const { return steps_.load(); }

 private:
  std::atomic<int64_t> steps_{0};
};

TEST(EngineStackTest, LoadsAPresetAndServesARequest) {
  EngineStackOptions options = Small();
  auto observer = std::make_shared<CountingObserver>();
  options.scheduler.observer = observer;
  absl::StatusOr<EngineStack> stack = EngineStack::Load("micro", options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(stack->config().name, "micro");
  EXPECT_THAT(stack->model().description,
              StartsWith("preset micro (synthetic f32 weights; 2 layers"));
  ASSERT_NE(stack->tokenizer(), nullptr);
  EXPECT_EQ(stack->tokenizer()->vocab_size(), stack->config().vocab_size);
  // K and V, 2 layers x 2 KV heads x 16 slots x head_dim 16, fp32.
  EXPECT_EQ(stack->page_bytes(), 2 * 2 * 2 * 16 * 16 * 4);
  EXPECT_EQ(stack->total_pages(), 32);
  EXPECT_EQ(stack->kv_cache_bytes(), 32 * stack->page_bytes());
  EXPECT_EQ(stack->scheduler().stats().total_pages, 32);
  // The scheduler got the options (0 max_prompt_tokens resolved to the context) and observer.
  EXPECT_EQ(stack->scheduler().options().max_batched_tokens, 64);
  EXPECT_EQ(stack->scheduler().options().max_prompt_tokens, stack->config().max_context);
  EXPECT_EQ(stack->scheduler().options().observer, observer);

  // Returned stopped; once started it generates, through a moved stack.
  EngineStack moved = *std::move(stack);
  moved.scheduler().Start();
  GenerationParams params;
  params.has_prompt = true;
  params.prompt_ids = moved.tokenizer()->Encode("engine stack", /*add_bos=*/false);
  params.max_tokens = 5;
  params.ignore_eos = true;
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(moved.scheduler().Submit(params, sink).ok());
  ASSERT_TRUE(sink->Wait());
  EXPECT_TRUE(sink->error.ok()) << sink->error;
  EXPECT_EQ(sink->tokens.size(), 5u);
  moved.scheduler().Shutdown(absl::Seconds(5));
  EXPECT_GT(observer->steps(), 0);
  EXPECT_EQ(moved.scheduler().stats().free_pages, 32);  // cached prefix pages count as free
}

TEST(EngineStackTest, StacksOnOneLoadedModelShareItsWeights) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<EngineStack> a = EngineStack::Create(*model, Small());
  absl::StatusOr<EngineStack> b = EngineStack::Create(*model, Small());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->model().weights.get(), model->weights.get());
  EXPECT_EQ(b->model().weights.get(), model->weights.get());
  EXPECT_NE(&a->scheduler(), &b->scheduler());
}

TEST(EngineStackTest, AModelWithoutATokenizerGetsTheByteLevelOne) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  model->tokenizer = nullptr;
  absl::StatusOr<EngineStack> stack = EngineStack::Create(*model, Small());
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_NE(stack->tokenizer(), nullptr);
  EXPECT_EQ(stack->tokenizer()->Describe(), "byte-level, 259 ids");
}

TEST(EngineStackTest, RefusesBadOptionsAndModels) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  EngineStackOptions bad_page = Small();
  bad_page.scheduler.page_size = 0;
  EXPECT_EQ(EngineStack::Create(*model, bad_page).status().code(),
            absl::StatusCode::kInvalidArgument);
  EngineStackOptions bad_threads = Small();
  bad_threads.threads = -1;
  absl::StatusOr<EngineStack> threads = EngineStack::Create(*model, bad_threads);
  EXPECT_EQ(threads.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(threads.status().message(), HasSubstr("threads"));
  EXPECT_EQ(EngineStack::Create(LoadedModel{}, Small()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadModelTest, NamesTheValueInItsErrors) {
  absl::StatusOr<LoadedModel> unknown = LoadModel("no-such-model");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), StartsWith("--model no-such-model: "));
  EXPECT_THAT(unknown.status().message(), HasSubstr("tiny"));  // the presets are listed
  absl::StatusOr<LoadedModel> path = LoadModel("no/such/dir");
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(path.status().message()),
              StartsWith("--model no/such/dir: no such directory"));
  absl::StatusOr<EngineStack> stack = EngineStack::Load("no/such/dir", Small());
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kNotFound);
}

TEST(LoadModelTest, LoadsACheckpointDirectoryWithItsTokenizer) {
  const std::string dir = testing::WriteTestCheckpoints(KVSERVE_MAKE_CHECKPOINTS);
  ASSERT_FALSE(dir.empty()) << "running " << KVSERVE_MAKE_CHECKPOINTS << " failed";
  // A trailing slash does not change how files are named.
  absl::StatusOr<EngineStack> stack = EngineStack::Load(dir + "/llama_f32/", Small());
  testing::RemoveTestCheckpoints(dir);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_THAT(stack->model().description,
              StartsWith("checkpoint " + dir + "/llama_f32 (llama; F32 weights"));
  EXPECT_THAT(stack->tokenizer()->Describe(), StartsWith("byte-level BPE, "));
  EXPECT_LE(stack->tokenizer()->vocab_size(), stack->config().vocab_size);
}

}  // namespace
}  // namespace kvserve
