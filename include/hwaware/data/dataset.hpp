#pragma once
// An in-memory labelled image set, and loaders that build one from IDX files (Fashion-MNIST as
// Debian's dataset-fashion-mnist installs it).
#include <cstdint>
#include <filesystem>
#include <string>

#include "hwaware/core/error.hpp"
#include "hwaware/core/precompiled.hpp"
#include "hwaware/core/tensor.hpp"
#include "hwaware/data/idx.hpp"

namespace hwaware {

/// Images and their class labels, sample i being images[i] and labels[i].
struct Dataset {
  Tensor images;  ///< f32 [N, C, H, W], plain layout
  Tensor labels;  ///< i32 [N], each in [0, number of classes)

  /// Number of samples N (0 for a default-constructed set).
  int64_t size() const { return labels.defined() ? labels.dim(0) : 0; }
};

/// Per-pixel mean and standard deviation of the Fashion-MNIST training images after scaling to
/// [0, 1] (measured over all 60000 × 28 × 28 pixels; the test set's differ by < 0.002).
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

/// Default install directory of Debian's dataset-fashion-mnist package.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist/";

/// Replaces every element x of the plain f32 tensor `t` by (x - mean) / std, in place.
/// Throws Error when `t` is not plain f32 or `std` is not positive.
void normalize(Tensor& t, float mean, float std);

/// Loads an IDX image file ([N, H, W] unsigned bytes, magic 0x00000803) and an IDX label file ([N],
/// magic 0x00000801) into a Dataset with images f32 [N', 1, H, W] scaled to [0, 1] (not
/// normalised) and labels i32 [N'], where N' = N, or min(N, limit) when limit >= 0 (the first
/// samples are kept).
/// Throws FileError (naming the file and byte offset) for what read_idx rejects, for a file of the
/// wrong rank, when the image and label counts differ (naming both files and both counts), and for
/// a label >= num_classes. Throws Error when num_classes is not in [1, 256].
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t limit = -1,
                      int num_classes = 10);

/// Loads the "train" (60000 samples) or "test" (10000) split of Fashion-MNIST from `dir`, which
/// holds the four files under their original names, gzipped (as Debian ships them) or not.
/// Images come out normalised with kFashionMnistMean / kFashionMnistStd — the training-set
/// statistics for both splits, so the test set sees the same transform as the training set.
/// `limit` keeps the first `limit` samples (all when negative).
/// Throws Error for another split name, FileError as load_idx_pair.
HWAWARE_ENTRY Dataset load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir,
                                         int64_t limit = -1);

/// load_fashion_mnist without the normalisation: images scaled to [0, 1] (what image synthesis
/// such as the cluttered set composes from).
Dataset load_fashion_mnist_raw(const std::string& split, const std::string& dir = kFashionMnistDir,
                               int64_t limit = -1);

// ---------------------------------------------------------------------------------------------
// Implementation

inline void normalize(Tensor& t, float mean, float std) {
  if (!t.defined() || t.dtype() != DType::f32 || t.layout() != Layout::plain)
    throw Error("normalize: needs a defined, plain f32 tensor");
  if (!(std > 0.0f)) throw Error("normalize: std must be positive (got " + std::to_string(std) + ")");
  // Multiplying by the reciprocal keeps the loop vectorisable; the rounding difference to a true
  // division is below 1 ulp and irrelevant for inputs.
  const float inv_std = 1.0f / std;
  float* x = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) x[i] = (x[i] - mean) * inv_std;
  t.bump_version();
}

namespace detail {

inline void check_idx_rank(const IdxArray& a, const std::string& path, size_t rank, const char* what) {
  if (a.dims.size() == rank) return;
  throw FileError("IDX file '" + path + "', byte offset 3: expected " + what + " with " + std::to_string(rank) +
                  " dimension(s) (magic 0x0000080" + std::to_string(rank) + ") but the file has " +
                  std::to_string(a.dims.size()) + ": dims " + shape_str(a.dims));
}

/// Picks `dir/name.gz`, or `dir/name` when only the uncompressed file exists (a user may have
/// unpacked the files); the .gz path is returned when neither exists so the error names it.
inline std::string idx_file_in(const std::string& dir, const std::string& name) {
  const std::filesystem::path base(dir);
  const std::filesystem::path gz = base / (name + ".gz");
  const std::filesystem::path raw = base / name;
  std::error_code ec;
  if (!std::filesystem::exists(gz, ec) && std::filesystem::exists(raw, ec)) return raw.string();
  return gz.string();
}

}  // namespace detail

inline Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t limit,
                             int num_classes) {
  if (num_classes < 1 || num_classes > 256)
    throw Error("load_idx_pair: num_classes must be in [1, 256] for byte labels (got " +
                std::to_string(num_classes) + ")");
  const IdxArray img = read_idx(images_path);
  detail::check_idx_rank(img, images_path, 3, "images [N, H, W]");
  const IdxArray lab = read_idx(labels_path);
  detail::check_idx_rank(lab, labels_path, 1, "labels [N]");
  if (img.dims[0] != lab.dims[0])
    throw FileError("image/label count mismatch: '" + images_path + "' holds " + std::to_string(img.dims[0]) +
                    " images but '" + labels_path + "' holds " + std::to_string(lab.dims[0]) + " labels");

  // The header is 4 + 4 × rank bytes, so label i sits at byte 8 + i of the labels file.
  const int64_t total = lab.dims[0];
  for (int64_t i = 0; i < total; ++i)
    if (lab.data[i] >= num_classes)
      throw FileError("IDX file '" + labels_path + "', byte offset " + std::to_string(8 + i) + ": label " +
                      std::to_string(lab.data[i]) + " of sample " + std::to_string(i) +
                      " is outside [0, " + std::to_string(num_classes) + ")");

  const int64_t n = limit < 0 ? total : std::min(limit, total);
  const int64_t H = img.dims[1], W = img.dims[2], pixels = H * W;
  Dataset ds;
  ds.images = Tensor::empty({n, 1, H, W});
  ds.labels = Tensor::empty({n}, Layout::plain, DType::i32);
  float* x = ds.images.data();
  const uint8_t* src = img.data.data();
  constexpr float kScale = 1.0f / 255.0f;
  for (int64_t i = 0; i < n * pixels; ++i) x[i] = static_cast<float>(src[i]) * kScale;
  int32_t* y = ds.labels.idata();
  for (int64_t i = 0; i < n; ++i) y[i] = lab.data[i];
  return ds;
}

inline Dataset load_fashion_mnist_raw(const std::string& split, const std::string& dir, int64_t limit) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test") prefix = "t10k";  // the IDX files' own name for the test split
  else throw Error("load_fashion_mnist: split must be \"train\" or \"test\" (got \"" + split + "\")");
  Dataset ds = load_idx_pair(detail::idx_file_in(dir, prefix + "-images-idx3-ubyte"),
                             detail::idx_file_in(dir, prefix + "-labels-idx1-ubyte"), limit, 10);
  return ds;
}

#if HWAWARE_ENTRY_DEFINITIONS
HWAWARE_ENTRY Dataset load_fashion_mnist(const std::string& split, const std::string& dir, int64_t limit) {
  Dataset ds = load_fashion_mnist_raw(split, dir, limit);
  normalize(ds.images, kFashionMnistMean, kFashionMnistStd);
  return ds;
}
#endif

}  // namespace hwaware
