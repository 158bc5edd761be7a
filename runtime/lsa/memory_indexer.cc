#include "runtime/lsa/memory_indexer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/ops_norm.h"
#include "kernels/numeric_formats.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_file.h"

namespace fm::rt {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status Op(kernels::OpStatus s, const char* op) {
  if (s == kernels::OpStatus::kOk) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("memory indexer: kernel op ", op, " failed (status ",
                                          static_cast<int>(s), ")"));
}

kernels::WeightView F32View(const std::vector<float>& data, int64_t rows, int64_t cols) {
  kernels::WeightView v;
  v.format = kernels::WeightFormat::kF32;
  v.rows = rows;
  v.cols = cols;
  v.data = data.data();
  return v;
}

// fp32 copy of a float tensor (F32, BF16 or F16) after checking its rank-1/2 shape.
absl::StatusOr<std::vector<float>> ToFloats(const TensorRef& t, const std::string& file) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), t.data, static_cast<size_t>(n) * 4);
      break;
    case DType::kBF16:
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, t.data + 2 * i, 2);
        out[static_cast<size_t>(i)] =
            t.dtype == DType::kBF16 ? kernels::Bf16ToFloat(bits) : kernels::F16ToFloat(bits);
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", t.name, "' has dtype ",
                                                     DTypeName(t.dtype),
                                                     "; expected F32, BF16 or F16"));
  }
  return out;
}

// The first of `stems` (each tried as given and with ".weight", with and without the
// "retrievers." prefix) present in `file`.
absl::StatusOr<const TensorRef*> FindRetrieverTensor(const SafetensorsFile& file, int64_t csa,
                                                     std::initializer_list<const char*> stems) {
  std::vector<std::string> tried;
  for (const char* prefix : {"retrievers.", ""}) {
    for (const char* stem : stems) {
      for (const char* suffix : {"", ".weight"}) {
        std::string name = absl::StrCat(prefix, "l", csa, ".", stem, suffix);
        if (const TensorRef* t = file.Find(name)) return t;
        tried.push_back(std::move(name));
      }
    }
  }
  return absl::NotFoundError(absl::StrCat(file.display_name(), ": no retriever tensor for CSA layer ",
                                          csa, " (tried ", absl::StrJoin(tried, ", "), ")"));
}

absl::Status ExpectShape(const TensorRef& t, const std::string& file,
                         const std::vector<int64_t>& expected, const char* why) {
  if (t.shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", t.name, "' has shape ",
                                                   ShapeText(t.shape), "; expected ",
                                                   ShapeText(expected), " (", why, ")"));
  }
  return absl::OkStatus();
}

// Dequantised fp32 copy of a checkpoint linear weight.
absl::StatusOr<std::vector<float>> DenseWeight(const Checkpoint& ck, const std::string& name,
                                               int64_t rows, int64_t cols) {
  FM_ASSIGN_OR_RETURN(kernels::WeightView v, ck.GetWeight(name, rows, cols));
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) kernels::cpu::DequantRow(v, r, out.data() + r * cols);
  return out;
}

absl::StatusOr<int64_t> ModelLayerOf(const ModelConfig& config, int64_t csa) {
  const std::vector<int64_t> csa_layers = CsaModelLayers(config);
  if (csa < 0 || csa >= static_cast<int64_t>(csa_layers.size())) {
    return absl::InvalidArgumentError(absl::StrCat("memory indexer: target CSA index ", csa,
                                                   " does not exist; the model has ",
                                                   csa_layers.size(), " CSA layers"));
  }
  return csa_layers[static_cast<size_t>(csa)];
}

}  // namespace

std::vector<int64_t> CsaModelLayers(const ModelConfig& config) {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    if (config.is_csa(l)) out.push_back(l);
  }
  return out;
}

std::vector<int64_t> DefaultTargetCsaIndices(const ModelConfig& config) {
  const int64_t n = static_cast<int64_t>(CsaModelLayers(config).size());
  if (n > 20) return {10, 12, 20};
  std::vector<int64_t> out;
  for (int64_t c = std::max<int64_t>(0, n - 3); c < n; ++c) out.push_back(c);
  return out;
}

MemoryIndexer::MemoryIndexer(const ModelConfig& config, std::vector<RetrieverWeights> layers)
    : config_(config) {
  for (RetrieverWeights& w : layers) {
    Layer l;
    l.w = std::move(w);
    const int64_t d = config.hidden_size, R = l.w.rank, H = l.w.n_heads;
    l.wq_a = F32View(l.w.wq_a, R, d);
    l.wq_b = F32View(l.w.wq_b, H * config.index_head_dim, R);
    l.weights_proj = F32View(l.w.weights_proj, H, d);
    layers_.push_back(std::move(l));
  }
  const int64_t rope = config.qk_rope_head_dim;
  inv_freq_.resize(static_cast<size_t>(rope / 2));
  const bool yarn = config.rope_scaling.type == "yarn";
  kernels::cpu::ComputeRopeInvFreq(rope, config.compress_rope_theta,
                                   yarn ? config.rope_scaling.original_max_position_embeddings : 0,
                                   config.rope_scaling.factor, config.rope_scaling.beta_fast,
                                   config.rope_scaling.beta_slow, inv_freq_.data());
}

absl::StatusOr<std::unique_ptr<MemoryIndexer>> MemoryIndexer::FromWeights(
    const ModelConfig& config, std::vector<RetrieverWeights> layers) {
  const int64_t d = config.hidden_size, DI = config.index_head_dim, r = config.qk_rope_head_dim;
  if (DI <= 0 || (DI & (DI - 1)) != 0 || r <= 0 || r > DI || r % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory indexer: config index_head_dim=", DI, " qk_rope_head_dim=", r,
        "; expected a power-of-two index_head_dim holding an even number of rope dims"));
  }
  if (layers.empty()) return absl::InvalidArgumentError("memory indexer: no target layers");
  for (const RetrieverWeights& w : layers) {
    FM_ASSIGN_OR_RETURN(const int64_t model_layer, ModelLayerOf(config, w.csa_index));
    auto bad = [&](const char* what, size_t found, int64_t expected) {
      return absl::InvalidArgumentError(absl::StrCat("memory indexer: retriever l", w.csa_index,
                                                     " ", what, " has ", found,
                                                     " values; expected ", expected));
    };
    if (w.model_layer != model_layer) {
      return absl::InvalidArgumentError(absl::StrCat("memory indexer: retriever l", w.csa_index,
                                                     " names model layer ", w.model_layer,
                                                     "; CSA index ", w.csa_index, " is layer ",
                                                     model_layer));
    }
    if (w.rank <= 0 || w.n_heads <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("memory indexer: retriever l", w.csa_index,
                                                     " rank=", w.rank, " n_heads=", w.n_heads,
                                                     "; expected both positive"));
    }
    if (static_cast<int64_t>(w.wq_a.size()) != w.rank * d) return bad("wq_a", w.wq_a.size(), w.rank * d);
    if (static_cast<int64_t>(w.q_norm.size()) != w.rank) return bad("q_norm", w.q_norm.size(), w.rank);
    if (static_cast<int64_t>(w.wq_b.size()) != w.n_heads * DI * w.rank) {
      return bad("wq_b", w.wq_b.size(), w.n_heads * DI * w.rank);
    }
    if (static_cast<int64_t>(w.weights_proj.size()) != w.n_heads * d) {
      return bad("weights_proj", w.weights_proj.size(), w.n_heads * d);
    }
  }
  return std::unique_ptr<MemoryIndexer>(new MemoryIndexer(config, std::move(layers)));
}

absl::StatusOr<std::unique_ptr<MemoryIndexer>> MemoryIndexer::FromSafetensors(
    const std::filesystem::path& path, const ModelConfig& config,
    absl::Span<const int64_t> csa_indices) {
  FM_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                      SafetensorsFile::Open(path, path.filename().string()));
  const std::string& name = file->display_name();
  const int64_t d = config.hidden_size, DI = config.index_head_dim;
  std::vector<RetrieverWeights> layers;
  for (int64_t c : csa_indices) {
    RetrieverWeights w;
    w.csa_index = c;
    FM_ASSIGN_OR_RETURN(w.model_layer, ModelLayerOf(config, c));
    FM_ASSIGN_OR_RETURN(const TensorRef* wq_a, FindRetrieverTensor(*file, c, {"wq_a"}));
    FM_ASSIGN_OR_RETURN(const TensorRef* q_norm,
                        FindRetrieverTensor(*file, c, {"q_norm_weight", "q_norm"}));
    FM_ASSIGN_OR_RETURN(const TensorRef* wq_b, FindRetrieverTensor(*file, c, {"wq_b"}));
    FM_ASSIGN_OR_RETURN(const TensorRef* wp, FindRetrieverTensor(*file, c, {"weights_proj"}));
    if (wq_a->shape.size() != 2 || wp->shape.size() != 2) {
      const TensorRef* t = wq_a->shape.size() != 2 ? wq_a : wp;
      return absl::InvalidArgumentError(absl::StrCat(name, ": tensor '", t->name, "' has shape ",
                                                     ShapeText(t->shape),
                                                     "; expected a 2-D [out, ", d, "] matrix"));
    }
    w.rank = wq_a->shape[0];
    w.n_heads = wp->shape[0];
    FM_RETURN_IF_ERROR(ExpectShape(*wq_a, name, {w.rank, d}, "[rank, hidden_size]"));
    FM_RETURN_IF_ERROR(ExpectShape(*wp, name, {w.n_heads, d}, "[heads, hidden_size]"));
    FM_RETURN_IF_ERROR(ExpectShape(*q_norm, name, {w.rank}, "[rank] of wq_a"));
    FM_RETURN_IF_ERROR(ExpectShape(*wq_b, name, {w.n_heads * DI, w.rank},
                                   "[heads * index_head_dim, rank] from weights_proj and wq_a"));
    FM_ASSIGN_OR_RETURN(w.wq_a, ToFloats(*wq_a, name));
    FM_ASSIGN_OR_RETURN(w.q_norm, ToFloats(*q_norm, name));
    FM_ASSIGN_OR_RETURN(w.wq_b, ToFloats(*wq_b, name));
    FM_ASSIGN_OR_RETURN(w.weights_proj, ToFloats(*wp, name));
    layers.push_back(std::move(w));
  }
  return FromWeights(config, std::move(layers));
}

absl::StatusOr<std::unique_ptr<MemoryIndexer>> MemoryIndexer::FromNative(
    const Checkpoint& checkpoint, absl::Span<const int64_t> csa_indices,
    const NativeInitOptions& options) {
  const ModelConfig& config = checkpoint.config();
  const int64_t d = config.hidden_size, DI = config.index_head_dim;
  const int64_t HI = config.index_n_heads, qr = config.q_lora_rank;
  const int64_t H = options.n_heads == 0 ? HI : options.n_heads;
  const int64_t R = options.rank == 0 ? qr : options.rank;
  if (H < HI || R < qr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory indexer: native init needs n_heads >= index_n_heads (", HI, ") and rank >= "
        "q_lora_rank (", qr, "); got n_heads=", H, " rank=", R));
  }
  std::vector<RetrieverWeights> layers;
  for (int64_t c : csa_indices) {
    RetrieverWeights w;
    w.csa_index = c;
    FM_ASSIGN_OR_RETURN(w.model_layer, ModelLayerOf(config, c));
    w.rank = R;
    w.n_heads = H;
    const std::string p = absl::StrCat("layers.", w.model_layer, ".attn.");
    FM_ASSIGN_OR_RETURN(std::vector<float> wq_a, DenseWeight(checkpoint, p + "wq_a.weight", qr, d));
    FM_ASSIGN_OR_RETURN(std::vector<float> q_norm, checkpoint.GetFloats(p + "q_norm.weight", {qr}));
    FM_ASSIGN_OR_RETURN(std::vector<float> wq_b,
                        DenseWeight(checkpoint, p + "indexer.wq_b.weight", HI * DI, qr));
    FM_ASSIGN_OR_RETURN(std::vector<float> wp,
                        DenseWeight(checkpoint, p + "indexer.weights_proj.weight", HI, d));
    // Zero rows of W_a past q_lora_rank widen the RMS by sqrt(R / qr); the copied q_norm dims are
    // scaled down by the same factor so c (and the logits) are unchanged.
    const float rms_fix = static_cast<float>(std::sqrt(static_cast<double>(qr) / R));
    w.wq_a.assign(static_cast<size_t>(R * d), 0.0f);
    std::copy(wq_a.begin(), wq_a.end(), w.wq_a.begin());
    w.q_norm.assign(static_cast<size_t>(R), 1.0f);
    for (int64_t i = 0; i < qr; ++i) w.q_norm[static_cast<size_t>(i)] = q_norm[static_cast<size_t>(i)] * rms_fix;
    w.wq_b.assign(static_cast<size_t>(H * DI * R), 0.0f);
    for (int64_t row = 0; row < HI * DI; ++row) {
      std::copy_n(wq_b.data() + row * qr, qr, w.wq_b.data() + row * R);
    }
    w.weights_proj.assign(static_cast<size_t>(H * d), 0.0f);
    std::copy(wp.begin(), wp.end(), w.weights_proj.begin());
    layers.push_back(std::move(w));
  }
  return FromWeights(config, std::move(layers));
}

std::vector<int64_t> MemoryIndexer::model_layers() const {
  std::vector<int64_t> out;
  for (const Layer& l : layers_) out.push_back(l.w.model_layer);
  return out;
}

absl::Status MemoryIndexer::QueryForward(int64_t t, const float* h, const int64_t* positions,
                                         int64_t n_rows, IndexerQueryBatch* out) {
  if (t < 0 || t >= n_targets() || n_rows < 0 || out == nullptr ||
      (n_rows > 0 && (h == nullptr || positions == nullptr))) {
    return absl::InvalidArgumentError(absl::StrCat("MemoryIndexer::QueryForward: target ", t,
                                                   " of ", n_targets(), ", ", n_rows, " rows"));
  }
  const int64_t DI = config_.index_head_dim, r = config_.qk_rope_head_dim;
  const Layer& l = layers_[static_cast<size_t>(t)];
  const int64_t R = l.w.rank, H = l.w.n_heads;
  out->n_rows = n_rows;
  out->a.resize(static_cast<size_t>(n_rows * R));
  out->c.resize(static_cast<size_t>(n_rows * R));
  out->q.resize(static_cast<size_t>(n_rows * H * DI));
  out->w.resize(static_cast<size_t>(n_rows * H));
  if (n_rows == 0) return absl::OkStatus();
  for (int64_t i = 0; i < n_rows; ++i) {
    if (positions[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("MemoryIndexer::QueryForward: row ", i,
                                                     " has position ", positions[i]));
    }
  }
  FM_RETURN_IF_ERROR(Op(backend_.Linear({&l.wq_a, h, n_rows, out->a.data()}), "Linear(wq_a)"));
  FM_RETURN_IF_ERROR(Op(backend_.RmsNorm({out->a.data(), l.w.q_norm.data(), out->c.data(), n_rows,
                                          R, static_cast<float>(config_.rms_norm_eps)}),
                        "RmsNorm(q_norm)"));
  FM_RETURN_IF_ERROR(Op(backend_.Linear({&l.wq_b, out->c.data(), n_rows, out->q.data()}),
                        "Linear(wq_b)"));
  FM_RETURN_IF_ERROR(Op(backend_.Rope(kernels::HeadTailRope(out->q.data(), n_rows, H, DI, r, positions,
                                                            inv_freq_.data())),
                        "Rope"));
  FM_RETURN_IF_ERROR(Op(backend_.Hadamard({out->q.data(), n_rows * H, DI}), "Hadamard"));
  FM_RETURN_IF_ERROR(Op(backend_.Linear({&l.weights_proj, h, n_rows, out->w.data()}),
                        "Linear(weights_proj)"));
  const float wscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H) * DI));
  for (float& v : out->w) v *= wscale;
  return absl::OkStatus();
}

absl::Status MemoryIndexer::ScoreKeys(const float* q, const float* w, int64_t n_heads,
                                      const float* keys, int64_t n_keys, float* out) const {
  if (n_keys == 0) return absl::OkStatus();
  kernels::IndexerScoreParams ip;
  ip.q = q;
  ip.weights = w;
  ip.keys_f32 = keys;
  ip.key_stride = config_.index_head_dim;
  ip.n_keys = n_keys;
  ip.n_heads = n_heads;
  ip.dim = config_.index_head_dim;
  ip.out = out;
  // The CPU op is per query and stateless, so a local backend keeps this const and re-entrant.
  return Op(kernels::cpu::CpuBackend(nullptr).IndexerScore(ip), "IndexerScore");
}

absl::Status MemoryIndexer::Logits(int64_t t, absl::Span<const float> h, int64_t position,
                                   const float* keys, int64_t n_keys, float* out) {
  const int64_t d = config_.hidden_size;
  if (t < 0 || t >= n_targets() || static_cast<int64_t>(h.size()) < d || n_keys < 0 ||
      position < 0 || (n_keys > 0 && (keys == nullptr || out == nullptr))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MemoryIndexer::Logits: target ", t, " of ", n_targets(), ", h of ", h.size(),
        " values (expected ", d, "), position ", position, ", ", n_keys, " keys"));
  }
  if (n_keys == 0) return absl::OkStatus();
  FM_RETURN_IF_ERROR(QueryForward(t, h.data(), &position, 1, &scratch_));
  return ScoreKeys(scratch_.q.data(), scratch_.w.data(), target(t).n_heads, keys, n_keys, out);
}

absl::Status MemoryIndexer::Probabilities(int64_t t, absl::Span<const float> h, int64_t position,
                                          const float* keys, int64_t n_keys, float* out) {
  FM_RETURN_IF_ERROR(Logits(t, h, position, keys, n_keys, out));
  for (int64_t j = 0; j < n_keys; ++j) out[j] = 1.0f / (1.0f + std::exp(-out[j]));
  return absl::OkStatus();
}

}  // namespace fm::rt
