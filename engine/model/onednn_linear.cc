#include "engine/model/onednn_linear.h"

#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "engine/base/half_float.h"

namespace kvserve {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

absl::StatusOr<OneDnnLinear> OneDnnLinear::Create(const dnnl::engine& engine, const float* weight,
                                                  int64_t in, int64_t out, Options options) {
  if (in <= 0 || out <= 0 || weight == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear layer needs in > 0, out > 0 and weights; got ", in, "x", out));
  }
  try {
    OneDnnLinear layer;
    layer.in_ = in;
    layer.out_ = out;
    layer.engine_ = engine;
    layer.bf16_ = options.bf16;
    const Dt compute = options.bf16 ? Dt::bf16 : Dt::f32;
    const memory::dim runtime = DNNL_RUNTIME_DIM_VAL;
    memory::desc src_md({runtime, in}, compute, Tag::ab);
    memory::desc dst_md({runtime, out}, Dt::f32, Tag::ab);
    memory::desc weights_any({in, out}, compute, Tag::any);
    memory::desc bias_md = options.bias ? memory::desc({1, out}, Dt::f32, Tag::ab) : memory::desc();

    dnnl::primitive_attr attr;
    if (options.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::desc desc = options.bias
                                  ? dnnl::matmul::desc(src_md, weights_any, bias_md, dst_md)
                                  : dnnl::matmul::desc(src_md, weights_any, dst_md);
    dnnl::matmul::primitive_desc pd(desc, attr, engine);
    layer.primitive_ = dnnl::matmul(pd);

    // Weights arrive as [out][in] = a (K=in, N=out) matrix in "ba" order; reorder once.
    memory::desc given_md({in, out}, Dt::f32, Tag::ba);
    memory given(given_md, engine, const_cast<float*>(weight));
    layer.weights_ = memory(pd.weights_desc(), engine);
    dnnl::stream stream(engine);
    dnnl::reorder(given, layer.weights_).execute(stream, given, layer.weights_);
    if (options.bias) {
      layer.bias_ = memory(bias_md, engine);
      std::memcpy(layer.bias_.get_data_handle(), options.bias, sizeof(float) * out);
    }
    stream.wait();
    return layer;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul ", in, "x", out, ": ", e.what()));
  }
}

void OneDnnLinear::Run(dnnl::stream& stream, const float* x, int64_t m, float* y) const {
  memory src;
  if (bf16_) {
    const int64_t n = m * in_;
    if (static_cast<int64_t>(x_bf16_.size()) < n) x_bf16_.resize(n);
    uint16_t* dst = x_bf16_.data();
#pragma omp parallel for schedule(static) if (n > (int64_t{1} << 16))
    for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBfloat16(x[i]);
    src = memory({{m, in_}, Dt::bf16, Tag::ab}, engine_, dst);
  } else {
    src = memory({{m, in_}, Dt::f32, Tag::ab}, engine_, const_cast<float*>(x));
  }
  memory dst({{m, out_}, Dt::f32, Tag::ab}, engine_, y);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
  if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
  primitive_.execute(stream, args);
}

}  // namespace kvserve
