// Typed tensor access: shape and dtype checks, weight-format detection, float and index tables.

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/little_endian.h"
#include "common/status_macros.h"
#include "kernels/numeric_formats.h"
#include "runtime/weights/checkpoint_impl.h"

namespace fm::rt {
namespace {

std::string DTypeList(const std::vector<DType>& dtypes) {
  std::vector<std::string> names;
  for (DType d : dtypes) names.push_back(DTypeName(d));
  return absl::StrJoin(names, " or ");
}

std::string Where(const TensorRef& t) { return absl::StrCat(t.file, ": tensor '", t.name, "'"); }

absl::Status ExpectShape(const TensorRef& t, const std::vector<int64_t>& shape,
                         const std::string& why) {
  if (t.shape == shape) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(Where(t), ": shape ", ShapeString(t.shape),
                                                 ", expected ", ShapeString(shape), why));
}

absl::Status ExpectDType(const TensorRef& t, const std::vector<DType>& dtypes,
                         const std::string& why) {
  for (DType d : dtypes) {
    if (t.dtype == d) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(Where(t), ": dtype ", DTypeName(t.dtype),
                                                 ", expected ", DTypeList(dtypes), why));
}

// "<stem>.weight" -> "<stem>.scale"; any other name gets ".scale" appended.
std::string ScaleName(const std::string& name) {
  constexpr std::string_view kSuffix = ".weight";
  if (name.size() > kSuffix.size() &&
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    return name.substr(0, name.size() - kSuffix.size()) + ".scale";
  }
  return name + ".scale";
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::StatusOr<TensorRef> CheckpointImpl::Get(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return absl::NotFoundError(
        absl::StrCat(dir_.string(), ": tensor '", name, "' not found in the checkpoint"));
  }
  return *it->second;
}

absl::StatusOr<TensorRef> CheckpointImpl::GetChecked(const std::string& name,
                                                     const std::vector<int64_t>& shape,
                                                     const std::vector<DType>& dtypes) const {
  FM_ASSIGN_OR_RETURN(TensorRef t, Get(name));
  FM_RETURN_IF_ERROR(ExpectDType(t, dtypes, ""));
  FM_RETURN_IF_ERROR(ExpectShape(t, shape, ""));
  return t;
}

absl::StatusOr<kernels::WeightView> CheckpointImpl::GetWeight(const std::string& name, int64_t rows,
                                                              int64_t cols) const {
  if (rows < 1 || cols < 1) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': logical shape [", rows,
                                                   ",", cols, "] must be positive"));
  }
  FM_ASSIGN_OR_RETURN(TensorRef w, Get(name));
  const std::string scale_name = ScaleName(name);
  kernels::WeightView view;
  view.rows = rows;
  view.cols = cols;
  view.data = w.data;
  auto scale_it = by_name_.find(scale_name);
  if (scale_it == by_name_.end()) {
    switch (w.dtype) {
      case DType::kF32:
        view.format = kernels::WeightFormat::kF32;
        break;
      case DType::kBF16:
        view.format = kernels::WeightFormat::kBF16;
        break;
      case DType::kF16:
        view.format = kernels::WeightFormat::kF16;
        break;
      case DType::kF8E4M3:
      case DType::kI8:
      case DType::kU8:
        return absl::NotFoundError(absl::StrCat(Where(w), ": dtype ", DTypeName(w.dtype),
                                                " needs its scale tensor '", scale_name,
                                                "', which is missing"));
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(Where(w), ": dtype ", DTypeName(w.dtype),
                         ", expected F32, BF16 or F16, or F8_E4M3 / I8 with a .scale tensor"));
    }
    FM_RETURN_IF_ERROR(ExpectShape(w, {rows, cols}, ""));
    return view;
  }
  const TensorRef& s = *scale_it->second;
  const std::string pair = absl::StrCat(" (scale of '", name, "')");
  FM_RETURN_IF_ERROR(ExpectDType(s, {DType::kF8E8M0}, pair));
  if (w.dtype == DType::kF8E4M3) {
    FM_RETURN_IF_ERROR(ExpectShape(w, {rows, cols}, " (FP8 block-128 weight)"));
    FM_RETURN_IF_ERROR(ExpectShape(s, {CeilDiv(rows, 128), CeilDiv(cols, 128)},
                                   absl::StrCat(" (128x128 blocks of '", name, "')")));
    view.format = kernels::WeightFormat::kFP8Block128;
    view.scale = s.data;
    view.scale_cols = CeilDiv(cols, 128);
    return view;
  }
  if (w.dtype == DType::kI8 || w.dtype == DType::kU8) {
    if (cols % 32 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(w), ": MXFP4 weight with ", cols, " logical columns, expected a multiple of 32"));
    }
    FM_RETURN_IF_ERROR(ExpectShape(w, {rows, cols / 2}, " (MXFP4: two e2m1 codes per byte)"));
    FM_RETURN_IF_ERROR(
        ExpectShape(s, {rows, cols / 32}, absl::StrCat(" (1x32 blocks of '", name, "')")));
    view.format = kernels::WeightFormat::kMXFP4;
    view.scale = s.data;
    view.scale_cols = cols / 32;
    return view;
  }
  return absl::InvalidArgumentError(absl::StrCat(Where(w), ": dtype ", DTypeName(w.dtype),
                                                 " with scale tensor '", scale_name,
                                                 "', expected F8_E4M3 or I8 (quantised weight)"));
}

absl::StatusOr<std::vector<float>> CheckpointImpl::GetFloats(
    const std::string& name, const std::vector<int64_t>& shape) const {
  FM_ASSIGN_OR_RETURN(TensorRef t,
                      GetChecked(name, shape, {DType::kF32, DType::kBF16, DType::kF16}));
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::kF32:
        out[i] = LoadLE<float>(t.data + 4 * i);
        break;
      case DType::kBF16:
        out[i] = kernels::Bf16ToFloat(LoadLE<uint16_t>(t.data + 2 * i));
        break;
      default:
        out[i] = kernels::F16ToFloat(LoadLE<uint16_t>(t.data + 2 * i));
        break;
    }
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> CheckpointImpl::GetIndexTable(
    const std::string& name, const std::vector<int64_t>& shape, int64_t upper_bound) const {
  FM_ASSIGN_OR_RETURN(TensorRef t, GetChecked(name, shape, {DType::kI64, DType::kI32}));
  const int64_t n = t.numel();
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v =
        t.dtype == DType::kI64 ? LoadLE<int64_t>(t.data + 8 * i) : LoadLE<int32_t>(t.data + 4 * i);
    if (v < 0 || v >= upper_bound) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(t), ": entry ", i, " = ", v, ", expected a value in [0, ", upper_bound, ")"));
    }
    out[i] = static_cast<int32_t>(v);
  }
  return out;
}

std::vector<std::string> CheckpointImpl::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(by_name_.size());
  for (const auto& [name, ref] : by_name_) names.push_back(name);
  return names;
}

}  // namespace fm::rt
