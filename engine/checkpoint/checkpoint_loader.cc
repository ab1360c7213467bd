#include "engine/checkpoint/checkpoint_loader.h"

#include <dirent.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/checkpoint/mapped_file.h"
#include "engine/checkpoint/safetensors.h"
#include "nlohmann/json.hpp"

namespace kvserve {
namespace {

using Json = nlohmann::json;

constexpr char kIndexFile[] = "model.safetensors.index.json";

struct Shard {
  std::string name;  // file name inside the directory
  MappedFile file;
  SafetensorsHeader header;
};

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : absl::StrCat(dir, "/", name);
}

std::string BaseName(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

// The shard file names to read: from the index's weight_map, or every *.safetensors file.
// `*expected` receives the index's tensor → file map (empty without an index).
absl::StatusOr<std::vector<std::string>> ShardNames(
    const std::string& dir, absl::flat_hash_map<std::string, std::string>* expected) {
  const std::string index_path = JoinPath(dir, kIndexFile);
  absl::StatusOr<std::string> index_text = ReadFileToString(index_path);
  if (index_text.ok()) {
    const Json json = Json::parse(*index_text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": not a JSON object"));
    }
    const auto map = json.find("weight_map");
    if (map == json.end() || !map->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": \"weight_map\" is missing or not an object"));
    }
    std::vector<std::string> names;
    for (const auto& [tensor, file] : map->items()) {
      if (!file.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            index_path, ": weight_map entry for tensor '", tensor, "' is not a file name"));
      }
      const std::string name = file.get<std::string>();
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor '", tensor,
                                                       "' maps to '", name,
                                                       "', not a file name in the directory"));
      }
      (*expected)[tensor] = name;
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  if (!absl::IsNotFound(index_text.status())) return index_text.status();

  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), &::closedir);
  if (listing == nullptr) {
    return absl::NotFoundError(absl::StrCat(dir, ": cannot list the directory"));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(listing.get())) {
    const std::string name = entry->d_name;
    if (absl::EndsWith(name, ".safetensors")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": no *.safetensors file and no ", kIndexFile, " in the directory"));
  }
  return names;
}

// Looks tensors up across the shards, converts them into place, and remembers which were used.
class TensorTable {
 public:
  absl::Status Add(std::vector<Shard> shards,
                   const absl::flat_hash_map<std::string, std::string>& expected) {
    shards_ = std::move(shards);
    for (size_t s = 0; s < shards_.size(); ++s) {
      for (const SafetensorsTensor& t : shards_[s].header.tensors) {
        const auto [it, inserted] = where_.emplace(t.name, Location{static_cast<int32_t>(s), &t});
        if (!inserted) {
          return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' is in both ",
                                                         shards_[it->second.shard].file.path(),
                                                         " and ", shards_[s].file.path()));
        }
      }
    }
    for (const auto& [tensor, file] : expected) {
      const auto it = where_.find(tensor);
      if (it == where_.end() || shards_[it->second.shard].name != file) {
        return absl::NotFoundError(absl::StrCat(kIndexFile, " puts tensor '", tensor, "' in ", file,
                                                ", but that file does not have it"));
      }
    }
    return absl::OkStatus();
  }

  // Converts tensor `name`, which must have `shape`, into `dst` (product(shape) floats).
  absl::Status Fill(const std::string& name, absl::Span<const int64_t> shape, float* dst) {
    return Convert(name, shape, [dst](const SafetensorsTensor& t, const MappedFile& file) {
      return ConvertToF32(t, file.bytes(), file.path(), absl::MakeSpan(dst, t.num_elements));
    });
  }

  // Converts tensor `name`, which must have `shape`, into rows [first_row, first_row + shape[0])
  // of `matrix` (whose dtype decides the conversion), so fused matrices fill piece by piece.
  absl::Status FillRows(const std::string& name, absl::Span<const int64_t> shape,
                        WeightMatrix& matrix, int64_t first_row) {
    return Convert(name, shape, [&](const SafetensorsTensor& t, const MappedFile& file) {
      const int64_t offset = first_row * matrix.cols();
      if (matrix.dtype() == FloatDtype::kF32) {
        return ConvertToF32(t, file.bytes(), file.path(),
                            absl::MakeSpan(matrix.f32() + offset, t.num_elements));
      }
      return ConvertToHalf(t, file.bytes(), file.path(), matrix.dtype() == FloatDtype::kBF16,
                           absl::MakeSpan(matrix.half() + offset, t.num_elements));
    });
  }

  // The dtype every 2-D tensor (every matrix) has in the files, or null if they differ.
  std::optional<std::string> CommonMatrixDtype() const {
    std::optional<std::string> common;
    for (const auto& [name, location] : where_) {
      if (location.tensor->shape.size() != 2) continue;
      if (common.has_value() && *common != location.tensor->dtype) return std::nullopt;
      common = location.tensor->dtype;
    }
    return common;
  }

  // Marks a tensor as deliberately ignored if present.
  void Ignore(const std::string& name) { used_.insert(name); }

  // An error naming the first tensor that nothing used (sorted for a stable message).
  absl::Status CheckAllUsed(const std::string& model_type) const {
    std::vector<std::string> unused;
    for (const auto& [name, location] : where_) {
      if (!used_.contains(name) && !absl::EndsWith(name, ".rotary_emb.inv_freq")) {
        unused.push_back(name);
      }
    }
    if (unused.empty()) return absl::OkStatus();
    std::sort(unused.begin(), unused.end());
    const Location& where = where_.at(unused.front());
    return absl::InvalidArgumentError(absl::StrCat(
        shards_[where.shard].file.path(), ": tensor '", unused.front(), "' is not part of a ",
        model_type, " model with this config.json (", unused.size(), " unexpected tensor(s))"));
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> files;
    for (const Shard& s : shards_) files.push_back(s.file.path());
    return files;
  }
  const std::vector<std::string>& dtypes() const { return dtypes_; }

 private:
  struct Location {
    int32_t shard;
    const SafetensorsTensor* tensor;  // points into shards_[shard].header (stable: never resized)
  };

  // Finds `name`, checks its shape and dtype, and runs `convert(tensor, file)` on it.
  template <typename ConvertFn>
  absl::Status Convert(const std::string& name, absl::Span<const int64_t> shape,
                       ConvertFn convert) {
    const auto it = where_.find(name);
    if (it == where_.end()) {
      return absl::NotFoundError(
          absl::StrCat("tensor '", name, "' is missing (looked in ", FileList(), ")"));
    }
    const Shard& shard = shards_[it->second.shard];
    const SafetensorsTensor& t = *it->second.tensor;
    if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          shard.file.path(), ": tensor '", name, "' has shape [", absl::StrJoin(t.shape, ", "),
          "], config.json implies [", absl::StrJoin(shape, ", "), "]"));
    }
    if (!IsFloatDtype(t.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(shard.file.path(), ": tensor '", name,
                                                     "' has dtype ", t.dtype,
                                                     "; supported: F32, F16, BF16"));
    }
    if (absl::Status s = convert(t, shard.file); !s.ok()) return s;
    shard.file.DropPages(t.begin, t.end);  // converted: keep only the copy in RSS
    used_.insert(name);
    if (std::find(dtypes_.begin(), dtypes_.end(), t.dtype) == dtypes_.end()) {
      dtypes_.push_back(t.dtype);
    }
    return absl::OkStatus();
  }

  std::string FileList() const {
    std::vector<std::string> names;
    for (const Shard& s : shards_) names.push_back(s.name);
    return absl::StrJoin(names, ", ");
  }

  std::vector<Shard> shards_;
  absl::flat_hash_map<std::string, Location> where_;
  absl::flat_hash_set<std::string> used_;
  std::vector<std::string> dtypes_;
};

absl::Status FillLayer(TensorTable& table, const HfConfig& hf, int32_t index, FloatDtype dtype,
                       LayerWeights& l) {
  const ModelConfig& c = hf.model;
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), ff = c.intermediate_size;
  const std::string p = absl::StrCat("model.layers.", index, ".");
  l.attn_norm.resize(h);
  l.qkv = WeightMatrix(dtype, q + 2 * kv, h);
  l.o_proj = WeightMatrix(dtype, h, q);
  l.mlp_norm.resize(h);
  l.gate_up = WeightMatrix(dtype, 2 * ff, h);
  l.down_proj = WeightMatrix(dtype, h, ff);
  struct Rows {
    std::string name;
    std::vector<int64_t> shape;
    WeightMatrix* matrix;
    int64_t first_row;
  };
  const std::vector<Rows> matrices = {{p + "self_attn.q_proj.weight", {q, h}, &l.qkv, 0},
                                      {p + "self_attn.k_proj.weight", {kv, h}, &l.qkv, q},
                                      {p + "self_attn.v_proj.weight", {kv, h}, &l.qkv, q + kv},
                                      {p + "self_attn.o_proj.weight", {h, q}, &l.o_proj, 0},
                                      {p + "mlp.gate_proj.weight", {ff, h}, &l.gate_up, 0},
                                      {p + "mlp.up_proj.weight", {ff, h}, &l.gate_up, ff},
                                      {p + "mlp.down_proj.weight", {h, ff}, &l.down_proj, 0}};
  struct Piece {
    std::string name;
    std::vector<int64_t> shape;
    float* dst;
  };
  std::vector<Piece> vectors = {{p + "input_layernorm.weight", {h}, l.attn_norm.data()},
                                {p + "post_attention_layernorm.weight", {h}, l.mlp_norm.data()}};
  if (hf.qkv_bias) {
    l.qkv_bias.resize(q + 2 * kv);
    vectors.push_back({p + "self_attn.q_proj.bias", {q}, l.qkv_bias.data()});
    vectors.push_back({p + "self_attn.k_proj.bias", {kv}, l.qkv_bias.data() + q});
    vectors.push_back({p + "self_attn.v_proj.bias", {kv}, l.qkv_bias.data() + q + kv});
  }
  for (const Piece& piece : vectors) {
    if (absl::Status s = table.Fill(piece.name, piece.shape, piece.dst); !s.ok()) return s;
  }
  for (const Rows& m : matrices) {
    if (absl::Status s = table.FillRows(m.name, m.shape, *m.matrix, m.first_row); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir,
                                                CheckpointLoadOptions options) {
  const std::string config_path = JoinPath(dir, "config.json");
  absl::StatusOr<std::string> config_text = ReadFileToString(config_path);
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<HfConfig> hf = ParseHfConfig(*config_text, config_path);
  if (!hf.ok()) return hf.status();
  hf->model.name = BaseName(dir);

  absl::flat_hash_map<std::string, std::string> expected;
  absl::StatusOr<std::vector<std::string>> names = ShardNames(dir, &expected);
  if (!names.ok()) return names.status();
  std::vector<Shard> shards;
  for (const std::string& name : *names) {
    absl::StatusOr<MappedFile> file = MappedFile::Open(JoinPath(dir, name));
    if (!file.ok()) {
      if (!expected.empty() && absl::IsNotFound(file.status())) {
        return absl::NotFoundError(
            absl::StrCat(file.status().message(), " (a shard listed in ", kIndexFile, ")"));
      }
      return file.status();
    }
    absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(file->bytes(), file->path());
    if (!header.ok()) return header.status();
    shards.push_back(Shard{name, *std::move(file), *std::move(header)});
  }
  TensorTable table;
  if (absl::Status s = table.Add(std::move(shards), expected); !s.ok()) return s;

  const ModelConfig& c = hf->model;
  const int64_t h = c.hidden_size, v = c.vocab_size;
  LoadedCheckpoint out;
  ModelWeights& w = out.weights;
  w.config = c;
  // The matrices' dtype: as asked, or the files' own when every matrix has one 16-bit dtype.
  FloatDtype dtype = FloatDtype::kF32;
  if (options.matrix_dtype.has_value()) {
    dtype = *options.matrix_dtype;
  } else if (const std::optional<std::string> common = table.CommonMatrixDtype()) {
    if (*common == "BF16") dtype = FloatDtype::kBF16;
    if (*common == "F16") dtype = FloatDtype::kF16;
  }
  w.embedding = WeightMatrix(dtype, v, h);
  if (absl::Status s = table.FillRows("model.embed_tokens.weight", {v, h}, w.embedding, 0);
      !s.ok()) {
    return s;
  }
  w.layers.resize(c.num_layers);
  for (int32_t i = 0; i < c.num_layers; ++i) {
    if (absl::Status s = FillLayer(table, *hf, i, dtype, w.layers[i]); !s.ok()) return s;
  }
  w.final_norm.resize(h);
  if (absl::Status s = table.Fill("model.norm.weight", {h}, w.final_norm.data()); !s.ok()) {
    return s;
  }
  if (c.tie_word_embeddings) {
    table.Ignore("lm_head.weight");  // some tied checkpoints store a copy anyway
  } else {
    w.lm_head = WeightMatrix(dtype, v, h);
    if (absl::Status s = table.FillRows("lm_head.weight", {v, h}, w.lm_head, 0); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = table.CheckAllUsed(hf->model_type); !s.ok()) return s;
  if (absl::Status s = w.Validate(); !s.ok()) return s;
  out.files = table.Files();
  out.dtypes = table.dtypes();
  out.hf_config = *std::move(hf);
  return out;
}

}  // namespace kvserve
