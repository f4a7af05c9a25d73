// bf16 working copies of the f32 master weights. See shadow.h.
#include "plexus/llm/shadow.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/llm/fused_ops.h"

namespace plexus::llm {

namespace {
thread_local const ShadowWeights* t_active = nullptr;
}

ShadowWeights::ShadowWeights(const std::vector<torch::Tensor>& masters) {
  torch::NoGradGuard ng;
  std::vector<std::pair<const char*, const char*>> spans;
  for (const auto& m : masters) {
    PLEXUS_CHECK(m.scalar_type() == torch::kFloat32 && m.is_contiguous(),
                 "ShadowWeights: a master must be a contiguous f32 tensor");
    const auto* b = static_cast<const char*>(m.data_ptr());
    spans.emplace_back(b, b + m.numel() * 4);
    by_start_[static_cast<const char*>(m.data_ptr())] = entries_.size();
    auto s = torch::empty(m.sizes(), m.options().dtype(torch::kBFloat16));
    entries_.push_back({m.detach(), s.requires_grad_(true)});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    PLEXUS_CHECK(spans[i].first >= spans[i - 1].second, "ShadowWeights: two masters overlap");
  refresh();
}

void ShadowWeights::refresh() {
  torch::NoGradGuard ng;
  for (auto& e : entries_) e.shadow.copy_(e.master);  // round to nearest even, as cast()
}

torch::Tensor ShadowWeights::shadow_of(const torch::Tensor& w) const {
  if (!w.defined() || w.scalar_type() != torch::kFloat32 || !w.is_contiguous() || w.numel() == 0) return {};
  const auto* q = static_cast<const char*>(w.data_ptr());
  auto it = by_start_.upper_bound(q);  // the first master starting after q; the one before may hold w
  if (it == by_start_.begin()) return {};
  --it;
  const auto& e = entries_[it->second];
  const int64_t off = (q - it->first) / 4;
  if (e.master.device() != w.device() || off + w.numel() > e.master.numel()) return {};
  if (off == 0 && w.numel() == e.master.numel())
    return e.shadow.sizes() == w.sizes() ? e.shadow : e.shadow.view(w.sizes());
  return e.shadow.view({-1}).narrow(0, off, w.numel()).view(w.sizes());
}

void ShadowWeights::zero_grad() {
  for (auto& e : entries_)
    if (e.shadow.grad().defined()) e.shadow.mutable_grad().reset();
}

ShadowGuard::ShadowGuard(const ShadowWeights* s) : prev_(t_active) { t_active = s; }
ShadowGuard::~ShadowGuard() { t_active = prev_; }

torch::Tensor weight_in(const torch::Tensor& w, torch::Dtype dt) {
  if (t_active && dt == torch::kBFloat16)
    if (auto s = t_active->shadow_of(w); s.defined()) return s;
  return cast(w, dt);
}

}  // namespace plexus::llm
