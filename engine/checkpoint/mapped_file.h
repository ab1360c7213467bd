// MappedFile: a whole file, read-only, memory-mapped (checkpoint shards can be gigabytes; mapping
// them lets the loader convert straight from the page cache without a copy).
//
// Invariant: bytes() covers exactly the file's size at Open() time (an empty file gives an empty
// view). Move-only; the mapping is released by the destructor.
//
// Threads: bytes() may be read from any number of threads at once. Truncating the file while it
// is mapped is outside the contract (the kernel then faults reads past the new end).
#ifndef KVSERVE_ENGINE_CHECKPOINT_MAPPED_FILE_H_
#define KVSERVE_ENGINE_CHECKPOINT_MAPPED_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

class MappedFile {
 public:
  // NOT_FOUND if `path` does not exist; FAILED_PRECONDITION if it is not a regular file or cannot
  // be read or mapped. Messages name the path.
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  absl::string_view bytes() const {
    return absl::string_view(static_cast<const char*>(data_), size_);
  }
  const std::string& path() const { return path_; }

  // Drops the pages of bytes [begin, end) from this process's memory (madvise MADV_DONTNEED; the
  // page cache keeps them, and reading them again faults them back in): once a tensor has been
  // converted, its mapped pages need not count twice in the loader's peak RSS. Best effort.
  void DropPages(size_t begin, size_t end) const;

 private:
  MappedFile() = default;
  void Release();

  std::string path_;
  void* data_ = nullptr;  // nullptr for an empty file
  size_t size_ = 0;
};

// The whole of a (small) file as a string, e.g. a JSON config. Errors as MappedFile::Open.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHECKPOINT_MAPPED_FILE_H_
