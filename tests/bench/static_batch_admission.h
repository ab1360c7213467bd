// StaticBatchAdmission: static batching as an AdmissionPolicy, for comparisons with continuous
// batching only (kvbench serve-compare, a scheduler test); the daemon never uses it. A batch of up
// to max_num_seqs requests is admitted (its prefill spread over steps by the token budget) once
// no request is running, and runs until its last request finishes.
//
// Threads: the scheduler thread only (the StepPlanner calls it).
#ifndef KVSERVE_TESTS_BENCH_STATIC_BATCH_ADMISSION_H_
#define KVSERVE_TESTS_BENCH_STATIC_BATCH_ADMISSION_H_

#include <cstdint>

#include "engine/sched/step_planner.h"

namespace kvserve {

class StaticBatchAdmission final : public AdmissionPolicy {
 public:
  explicit StaticBatchAdmission(int32_t max_num_seqs) : max_num_seqs_(max_num_seqs) {}

  bool MayAdmit(int32_t num_running) override {
    if (num_running == 0) open_ = true;
    return open_;
  }
  // The batch keeps admitting over the next steps only while the token budget alone held it
  // back; once it is full, out of pages or out of queued requests, it runs until it drains.
  void AfterAdmission(int32_t budget_left, int32_t num_waiting, int32_t num_running) override {
    if (!(budget_left <= 0 && num_waiting > 0 && num_running < max_num_seqs_)) open_ = false;
  }

 private:
  const int32_t max_num_seqs_;
  bool open_ = false;
};

}  // namespace kvserve

#endif  // KVSERVE_TESTS_BENCH_STATIC_BATCH_ADMISSION_H_
