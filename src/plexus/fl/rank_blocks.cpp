#include "plexus/fl/rank_blocks.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/dist/group.h"

namespace plexus::fl {

int RankBlocks::owner(int64_t i) const {
  PLEXUS_CHECK(i >= 0 && i < clients, "client {} outside [0, {})", i, clients);
  int k = static_cast<int>((i * ranks) / clients);  // a guess within one block of the answer
  while (k > 0 && begin(k) > i) --k;
  while (k + 1 < ranks && begin(k + 1) <= i) ++k;
  return k;
}

std::vector<int64_t> RankBlocks::owned(const std::vector<int64_t>& who, int k) const {
  std::vector<int64_t> mine;
  for (int64_t i : who) {
    if (i >= begin(k) && i < end(k)) mine.push_back(i);
  }
  return mine;
}

namespace {

RowPlan empty_plan(int ranks) {
  return RowPlan(static_cast<std::size_t>(ranks), std::vector<std::vector<int64_t>>(static_cast<std::size_t>(ranks)));
}

}  // namespace

RowPlan participants_plan(const RankBlocks& b, const std::vector<int64_t>& who) {
  RowPlan plan = empty_plan(b.ranks);
  for (int src = 0; src < b.ranks; ++src) {
    auto rows = b.owned(who, src);
    std::sort(rows.begin(), rows.end());
    for (int dst = 0; dst < b.ranks; ++dst) {
      if (dst != src) plan[src][dst] = rows;
    }
  }
  return plan;
}

RowPlan gossip_plan(const RankBlocks& b, const torch::Tensor& W, int64_t Q) {
  torch::NoGradGuard no_grad;
  auto dense = (W.is_sparse() || W.layout() == torch::kSparseCsr) ? W.to_dense() : W;
  auto A = dense.to(torch::kCPU, torch::kFloat64).ne(0).to(torch::kFloat64);  // [N,N] pattern of W
  auto reach = A.clone();
  for (int64_t q = 1; q < Q; ++q) reach = reach.mm(A).gt(0).to(torch::kFloat64);  // pattern of W^q, kept 0/1
  auto acc = reach.gt(0).to(torch::kUInt8).contiguous();
  const uint8_t* r = acc.data_ptr<uint8_t>();
  const int64_t n = b.clients;
  RowPlan plan = empty_plan(b.ranks);
  for (int dst = 0; dst < b.ranks; ++dst) {
    std::vector<char> need(static_cast<std::size_t>(n), 0);
    for (int64_t i = b.begin(dst); i < b.end(dst); ++i) {
      for (int64_t j = 0; j < n; ++j) need[static_cast<std::size_t>(j)] |= static_cast<char>(r[i * n + j]);
    }
    for (int64_t j = 0; j < n; ++j) {
      const int src = b.owner(j);
      if (need[static_cast<std::size_t>(j)] && src != dst) plan[src][dst].push_back(j);
    }
  }
  return plan;
}

RowPlan lead_plan(const RankBlocks& b, const std::vector<int64_t>& who) {
  RowPlan plan = empty_plan(b.ranks);
  for (int src = 1; src < b.ranks; ++src) {
    plan[src][0] = b.owned(who, src);
    std::sort(plan[src][0].begin(), plan[src][0].end());
  }
  return plan;
}

RowPlan gather_plan(const RankBlocks& b) {
  RowPlan plan = empty_plan(b.ranks);
  for (int src = 1; src < b.ranks; ++src) {
    for (int64_t i = b.begin(src); i < b.end(src); ++i) plan[src][0].push_back(i);
  }
  return plan;
}

int64_t plan_bytes(const RowPlan& plan, int k, int64_t row_bytes) {
  int64_t rows = 0;
  for (const auto& to : plan[static_cast<std::size_t>(k)]) rows += static_cast<int64_t>(to.size());
  return rows * row_bytes;
}

RowColumns complement_columns(const RowColumns& columns, int64_t P) {
  if (columns.empty()) return {};
  RowColumns sorted = columns, out;
  std::sort(sorted.begin(), sorted.end());
  int64_t at = 0;
  for (auto [b, e] : sorted) {
    if (b > at) out.emplace_back(at, b);
    at = std::max(at, e);
  }
  if (at < P) out.emplace_back(at, P);
  return out;
}

void exchange_rows(dist::Group& group, torch::Tensor& T, const RowPlan& plan, const std::string& what,
                   const RowColumns& columns) {
  torch::NoGradGuard no_grad;
  const int me = group.rank();
  const auto index = [&](const std::vector<int64_t>& rows) {
    return torch::tensor(rows, torch::kInt64).to(T.device());
  };
  int64_t width = 0;  // columns that travel per row
  for (auto [b, e] : columns) width += e - b;
  if (columns.empty()) width = T.size(1);
  // The travelling columns of some rows, side by side: [rows, width].
  const auto pick = [&](const torch::Tensor& rows) {
    if (columns.empty()) return rows;
    std::vector<torch::Tensor> parts;
    for (auto [b, e] : columns) parts.push_back(rows.narrow(1, b, e - b));
    return torch::cat(parts, 1);
  };
  std::vector<dist::Group::Transfer> sends, recvs;
  std::vector<std::vector<int64_t>> recv_rows;
  for (int peer = 0; peer < group.size(); ++peer) {
    if (peer == me) continue;
    const auto& out = plan[static_cast<std::size_t>(me)][static_cast<std::size_t>(peer)];
    if (!out.empty() && width > 0)
      sends.push_back({peer, pick(T.index_select(0, index(out))).to(torch::kCPU).contiguous()});
    const auto& in = plan[static_cast<std::size_t>(peer)][static_cast<std::size_t>(me)];
    if (!in.empty() && width > 0) {
      recvs.push_back({peer, torch::empty({static_cast<int64_t>(in.size()), width}, T.options().device(torch::kCPU))});
      recv_rows.push_back(in);
    }
  }
  group.exchange(sends, recvs, what);
  for (std::size_t r = 0; r < recvs.size(); ++r) {
    const auto idx = index(recv_rows[r]);
    const auto got = recvs[r].tensor.to(T.device());
    if (columns.empty()) {
      T.index_copy_(0, idx, got);
      continue;
    }
    int64_t at = 0;
    for (auto [b, e] : columns) {
      T.narrow(1, b, e - b).index_copy_(0, idx, got.narrow(1, at, e - b));
      at += e - b;
    }
  }
}

}  // namespace plexus::fl
