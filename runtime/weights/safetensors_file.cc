#include "runtime/weights/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/little_endian.h"
#include "runtime/weights/utf8.h"

namespace fm::rt {
namespace {

using Json = nlohmann::json;

struct DTypeInfo {
  DType dtype;
  const char* name;
  int64_t bytes;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4},        {DType::kF16, "F16", 2},        {DType::kBF16, "BF16", 2},
    {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E8M0, "F8_E8M0", 1}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},          {DType::kI32, "I32", 4},        {DType::kI64, "I64", 8},
};

// Valid safetensors dtypes that no V4 checkpoint uses; reported as Unimplemented, not DataLoss.
constexpr const char* kKnownUnsupported[] = {"F64", "BOOL", "I16", "U16", "U32", "U64", "F8_E5M2"};

absl::Status Malformed(const std::string& file, const std::string& what) {
  return absl::DataLossError(absl::StrCat(file, ": ", what));
}

// Reads a non-negative JSON integer that fits int64.
bool AsNonNegative(const Json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  return false;
}

std::string Preview(const Json& v) {
  // dump() recurses; a hostile value nested millions deep must not reach it.
  if (v.is_structured()) {
    if (v.size() > 16) return absl::StrCat("<", v.type_name(), " of ", v.size(), ">");
    for (const Json& e : v) {
      if (e.is_structured()) return absl::StrCat("<", v.type_name(), " of ", v.size(), ">");
    }
  }
  std::string s = v.dump(-1, ' ', /*ensure_ascii=*/true);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// Validates one tensor entry and fills `ref` (data pointer relative to `data`).
absl::Status ParseEntry(const std::string& file, const std::string& name, const Json& entry,
                        const uint8_t* data, int64_t data_bytes, TensorRef* ref, int64_t* begin) {
  const std::string where = absl::StrCat("tensor '", name, "'");
  if (!entry.is_object()) {
    return Malformed(file, absl::StrCat(where, ": entry ", Preview(entry), " is not an object"));
  }
  auto dt = entry.find("dtype");
  if (dt == entry.end() || !dt->is_string()) {
    return Malformed(file, absl::StrCat(where, ": missing or non-string \"dtype\""));
  }
  const std::string dtype_name = dt->get<std::string>();
  std::optional<DType> dtype = ParseDType(dtype_name);
  if (!dtype) {
    for (const char* known : kKnownUnsupported) {
      if (dtype_name == known) {
        return absl::UnimplementedError(
            absl::StrCat(file, ": ", where, ": dtype ", dtype_name, " is not supported"));
      }
    }
    return Malformed(file, absl::StrCat(where, ": unknown dtype ", Preview(*dt)));
  }
  auto sh = entry.find("shape");
  if (sh == entry.end() || !sh->is_array()) {
    return Malformed(file, absl::StrCat(where, ": missing or non-list \"shape\""));
  }
  if (sh->size() > 8) {
    return Malformed(file, absl::StrCat(where, ": shape has ", sh->size(), " dims (at most 8)"));
  }
  ref->shape.clear();
  int64_t numel = 1;
  for (const Json& d : *sh) {
    int64_t dim = 0;
    if (!AsNonNegative(d, &dim)) {
      return Malformed(file, absl::StrCat(where, ": shape ", Preview(*sh),
                                          " has an entry that is not a non-negative integer"));
    }
    if (__builtin_mul_overflow(numel, dim, &numel)) {
      return Malformed(file, absl::StrCat(where, ": shape ", Preview(*sh), " overflows int64"));
    }
    ref->shape.push_back(dim);
  }
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, DTypeBytes(*dtype), &nbytes)) {
    return Malformed(file, absl::StrCat(where, ": shape ", Preview(*sh), " overflows int64 bytes"));
  }
  auto off = entry.find("data_offsets");
  int64_t b = 0, e = 0;
  if (off == entry.end() || !off->is_array() || off->size() != 2 || !AsNonNegative((*off)[0], &b) ||
      !AsNonNegative((*off)[1], &e)) {
    return Malformed(file, absl::StrCat(where, ": \"data_offsets\" must be [begin, end] integers"));
  }
  if (b > e || e > data_bytes) {
    return Malformed(file, absl::StrCat(where, ": data_offsets [", b, ",", e,
                                        ") outside the data section of ", data_bytes, " bytes"));
  }
  if (e - b != nbytes) {
    return Malformed(
        file, absl::StrCat(where, ": data_offsets [", b, ",", e, ") hold ", e - b,
                           " bytes, expected ", nbytes, " for ", dtype_name, " ", Preview(*sh)));
  }
  ref->name = name;
  ref->file = file;
  ref->dtype = *dtype;
  ref->data = data + b;
  ref->nbytes = nbytes;
  *begin = b;
  return absl::OkStatus();
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

int64_t DTypeBytes(DType dtype) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.dtype == dtype) return d.bytes;
  }
  return 0;
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& d : kDTypes) {
    if (name == d.name) return d.dtype;
  }
  return std::nullopt;
}

absl::StatusOr<SafetensorsContents> ParseSafetensors(const uint8_t* bytes, int64_t size,
                                                     const std::string& file) {
  if (size < 8) {
    return Malformed(
        file, absl::StrCat("file is ", size, " bytes: too short for the 8-byte header length"));
  }
  const uint64_t header_len = LoadLE<uint64_t>(bytes);
  if (header_len > static_cast<uint64_t>(size - 8)) {
    return Malformed(file, absl::StrCat("header length ", header_len, " exceeds the ", size - 8,
                                        " bytes after the length field (truncated file?)"));
  }
  if (header_len > static_cast<uint64_t>(kMaxSafetensorsHeaderBytes)) {
    return Malformed(file, absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                        kMaxSafetensorsHeaderBytes, " bytes"));
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8),
                                static_cast<size_t>(header_len));
  if (int64_t bad = FirstInvalidUtf8(header); bad >= 0) {
    // The only strings in a header are names, dtypes and metadata; point at the enclosing one.
    const size_t quote = header.rfind('"', static_cast<size_t>(bad));
    const int64_t name_offset = quote == std::string_view::npos ? bad : static_cast<int64_t>(quote);
    return Malformed(
        file, absl::StrFormat("invalid UTF-8 byte 0x%02x at file offset %d in the tensor name "
                              "starting at file offset %d",
                              static_cast<unsigned>(static_cast<uint8_t>(header[bad])), 8 + bad,
                              8 + name_offset));
  }
  Json root;
  try {
    root = Json::parse(header.begin(), header.end());
  } catch (const Json::exception& e) {
    return Malformed(file, absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return Malformed(file, "header is not a JSON object");

  const uint8_t* data = bytes + 8 + header_len;
  const int64_t data_bytes = size - 8 - static_cast<int64_t>(header_len);
  SafetensorsContents out;
  std::vector<std::pair<int64_t, size_t>> by_offset;  // (begin, index into out.tensors)
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Malformed(file, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          return Malformed(
              file, absl::StrCat("__metadata__['", mk, "'] = ", Preview(mv), " is not a string"));
        }
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    TensorRef ref;
    int64_t begin = 0;
    if (absl::Status s = ParseEntry(file, key, value, data, data_bytes, &ref, &begin); !s.ok()) {
      return s;
    }
    if (ref.nbytes > 0) by_offset.emplace_back(begin, out.tensors.size());
    out.tensors.push_back(std::move(ref));
  }
  std::sort(by_offset.begin(), by_offset.end());
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorRef& prev = out.tensors[by_offset[i - 1].second];
    const int64_t prev_end = by_offset[i - 1].first + prev.nbytes;
    if (by_offset[i].first < prev_end) {
      const TensorRef& cur = out.tensors[by_offset[i].second];
      return Malformed(file,
                       absl::StrCat("tensor '", cur.name, "' at data offset ", by_offset[i].first,
                                    " overlaps tensor '", prev.name, "' ending at ", prev_end));
    }
  }
  // nlohmann objects iterate in key order, so `tensors` is already sorted by name.
  return out;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::filesystem::path& path, const std::string& display_name) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat(display_name, ": cannot open ", path.string(), ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    return absl::PermissionDeniedError(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(display_name, ": not a regular file"));
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->display_name_ = display_name;
  const int64_t size = static_cast<int64_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat(display_name, ": mmap of ", size, " bytes failed: ", std::strerror(err)));
    }
    f->map_ = m;
    f->map_bytes_ = static_cast<size_t>(size);
  }
  ::close(fd);  // the mapping keeps the file alive
  static const uint8_t kEmpty[1] = {0};
  const uint8_t* bytes = f->map_ ? static_cast<const uint8_t*>(f->map_) : kEmpty;
  auto contents = ParseSafetensors(bytes, size, display_name);
  if (!contents.ok()) return contents.status();
  f->contents_ = *std::move(contents);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

const TensorRef* SafetensorsFile::Find(std::string_view name) const {
  const auto& t = contents_.tensors;
  auto it = std::lower_bound(t.begin(), t.end(), name,
                             [](const TensorRef& r, std::string_view n) { return r.name < n; });
  if (it == t.end() || it->name != name) return nullptr;
  return &*it;
}

}  // namespace fm::rt
