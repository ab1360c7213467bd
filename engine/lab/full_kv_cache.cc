#include "engine/lab/full_kv_cache.h"

#include "absl/strings/str_cat.h"

namespace kvserve {

absl::StatusOr<KvFetch> FullKvCache::UpdateAndFetch(const KvTensor& key, const KvTensor& value) {
  if (!key.SameShape(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key shape ", key.ShapeString(), " differs from value shape ", value.ShapeString()));
  }
  if (!has_shape_) {
    if (key.batch() <= 0 || key.heads() <= 0 || key.head_dim() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the first KV update defines B, H and D, which must be > 0; got ", key.ShapeString()));
    }
    key_ = key;
    value_ = value;
    has_shape_ = true;
    return KvFetch{key_, value_};
  }
  // key and value have the same shape, so checking key covers both: nothing is written on failure.
  if (absl::Status s = CheckSameBatchHeadsDim(key_, "cache", key, "update"); !s.ok()) return s;
  if (key.length() > 0) {
    // Neither append can fail after the check above.
    if (absl::Status s = key_.AppendAlongLength(key); !s.ok()) return s;
    if (absl::Status s = value_.AppendAlongLength(value); !s.ok()) return s;
  }
  return KvFetch{key_, value_};
}

void FullKvCache::Reset() {
  has_shape_ = false;
  key_ = KvTensor();
  value_ = KvTensor();
}

}  // namespace kvserve
