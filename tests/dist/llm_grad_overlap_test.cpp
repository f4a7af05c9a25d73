// Gradient all-reduce overlapped with backward (src/plexus/dist/grad_buckets.h): two Gloo ranks in one process
// (two threads, each its own process group over loopback) train a small model with the features that make the
// LLM's gradients awkward: a tied embedding/output matrix and a weight used twice (several partial gradients
// per backward), an "expert" only rank 0's data uses (no gradient on rank 1) and a parameter nobody uses (no
// gradient anywhere). Checked against values known without the overlap code:
//   * the averaged gradients equal the one-process gradient of the whole batch (each rank's loss is a mean
//     over half of it, so the mean of the ranks' gradients is the whole batch's), and the unused parameter
//     keeps no gradient;
//   * they equal, bit for bit, the after-backward path (average()), which sums the same buckets;
//   * the first buckets are started while backward is still running (fewer hooks had fired than backward fires
//     in all), and every hook fires once per backward even for the parameters used several times.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "free_port.h"
#include "plexus/dist/grad_buckets.h"
#include "plexus/dist/group.h"

using namespace plexus;

namespace {

constexpr int64_t V = 7, D = 4;

// Parameters in model order: E [V,D] (embedding and output head), W [D,D] (two layers), expert [D,D], unused
// [3], b [D].
// Fixed values from sin (not the global random generator, which the two rank threads would share).
std::vector<torch::Tensor> make_params() {
  auto wave = [](std::vector<int64_t> shape, double phase, double scale) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return (torch::sin(torch::arange(n, torch::kFloat32) * 1.7 + phase) * scale).reshape(shape);
  };
  std::vector<torch::Tensor> ps = {wave({V, D}, 0.1, 1.0), wave({D, D}, 0.7, 0.6), wave({D, D}, 1.3, 0.6),
                                   wave({3}, 2.0, 1.0), wave({D}, 2.9, 0.1)};
  for (auto& p : ps) p.requires_grad_(true);
  return ps;
}

// Mean next-token cross-entropy over the rows of x/y [n,T]. Token 0 goes through the expert (rank 0's rows
// only contain it, so on rank 1 the expert is not in the graph).
torch::Tensor loss_of(const std::vector<torch::Tensor>& p, const torch::Tensor& x, const torch::Tensor& y) {
  auto h = torch::tanh(p[0].index_select(0, x.reshape({-1})).matmul(p[1])).matmul(p[1]);  // W twice
  auto routed = (x.reshape({-1}) == 0);
  if (routed.any().item<bool>()) h = h + routed.unsqueeze(1).to(h.dtype()) * torch::tanh(h.matmul(p[2]));
  auto logits = (h + p[4]).matmul(p[0].t());  // tied head
  return torch::nn::functional::cross_entropy(logits, y.reshape({-1}));
}

// The batch: rows 0-1 (rank 0) contain token 0, rows 2-3 (rank 1) do not.
std::pair<torch::Tensor, torch::Tensor> batch() {
  auto x = torch::tensor({0, 1, 2, 3, 0, 4, 5, 1, 2, 3, 4, 5, 6, 1, 2, 3}, torch::kInt64).reshape({4, 4});
  auto y = torch::tensor({1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4}, torch::kInt64).reshape({4, 4});
  return {x, y};
}

struct RankResult {
  std::vector<torch::Tensor> overlapped, after;  // averaged gradients (undefined: none)
  std::vector<dist::GradBuckets::Launch> launches;
  int64_t hooks = 0;
  size_t buckets = 0;
};

// Rank k of 2: one step overlapped, then the same step averaged after backward, on fresh parameters.
RankResult run_rank(int k, int port, int64_t bucket_bytes) {
  torch::set_num_threads(1);  // per thread too (OpenMP's thread count is per calling thread)
  dist::RankEnv env;
  env.rank = k;
  env.world = 2;
  env.local_rank = k;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  auto group = dist::Group::connect(env, 60);
  auto [x, y] = batch();
  x = x.narrow(0, 2 * k, 2), y = y.narrow(0, 2 * k, 2);
  RankResult r;
  {
    auto p = make_params();
    dist::GradBuckets buckets(p, bucket_bytes);
    buckets.attach(*group);
    auto loss = loss_of(p, x, y);
    buckets.begin_step(loss);
    loss.backward();
    buckets.finish_step();
    for (auto& t : p) r.overlapped.push_back(t.grad().defined() ? t.grad().clone() : torch::Tensor());
    r.launches = buckets.last_launches();
    r.hooks = buckets.hooks_fired();
    r.buckets = buckets.size();
  }
  {
    auto p = make_params();
    dist::GradBuckets buckets(p, bucket_bytes);
    loss_of(p, x, y).backward();
    buckets.average(*group);
    for (auto& t : p) r.after.push_back(t.grad().defined() ? t.grad().clone() : torch::Tensor());
  }
  return r;
}

}  // namespace

TEST(GradOverlap, TwoRanksEqualOneProcessAndTheAfterBackwardPath) {
  // One intra-op thread: the two rank threads share ATen's pool, and a reduction (b's gradient sums over rows)
  // split differently under contention would make two backward passes differ in the last bit.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  // One process, whole batch.
  auto p = make_params();
  auto [x, y] = batch();
  loss_of(p, x, y).backward();

  for (int64_t bucket_bytes : {int64_t{16}, dist::kGradBucketBytes}) {  // one bucket per parameter; one bucket
    const int port = test::free_port();
    RankResult r0, r1;
    std::thread t1([&] { r1 = run_rank(1, port, bucket_bytes); });
    r0 = run_rank(0, port, bucket_bytes);
    t1.join();
    for (const auto* r : {&r0, &r1}) {
      ASSERT_EQ(r->overlapped.size(), p.size());
      for (size_t j = 0; j < p.size(); ++j) {
        SCOPED_TRACE(::testing::Message() << "parameter " << j << ", bucket bytes " << bucket_bytes);
        ASSERT_EQ(r->overlapped[j].defined(), p[j].grad().defined());
        ASSERT_EQ(r->after[j].defined(), p[j].grad().defined());
        if (!p[j].grad().defined()) continue;  // the unused parameter: none anywhere
        EXPECT_TRUE(torch::allclose(r->overlapped[j], p[j].grad(), 1e-5, 1e-7))
            << r->overlapped[j] << " vs " << p[j].grad();
        EXPECT_TRUE(torch::equal(r->overlapped[j], r->after[j]));  // same buckets summed: bit-identical
      }
    }
    EXPECT_FALSE(p[3].grad().defined());
    EXPECT_TRUE(p[2].grad().defined());  // the expert: rank 0 only
    // Hooks: one per parameter reached by backward, whatever the number of uses (E twice, W twice): rank 0
    // reaches E, W, expert, b; rank 1 not the expert.
    EXPECT_EQ(r0.hooks, 4);
    EXPECT_EQ(r1.hooks, 3);
    for (const auto* r : {&r0, &r1}) {
      ASSERT_EQ(r->launches.size(), r->buckets);
      for (size_t i = 0; i < r->launches.size(); ++i) {
        EXPECT_EQ(r->launches[i].bucket, i);  // in bucket order on every rank
        EXPECT_TRUE(r->launches[i].during_backward);
      }
    }
    if (bucket_bytes == 16) {
      ASSERT_EQ(r0.buckets, 5u);
      // Buckets (reverse model order): b, unused, expert, W, E. b's gradient is the first backward produces,
      // and "unused" is absent from the graph: both start after the first hook, while backward goes on.
      EXPECT_EQ(r0.launches[0].hooks_fired, 1);
      EXPECT_EQ(r0.launches[1].hooks_fired, 1);
      EXPECT_LT(r0.launches[0].hooks_fired, r0.hooks);
      // Rank 1: the expert is not in its graph either, so b, unused and expert all start after one hook.
      EXPECT_EQ(r1.launches[2].hooks_fired, 1);
      // E (tied, used first and last) completes last.
      EXPECT_EQ(r0.launches[4].hooks_fired, r0.hooks);
    } else {
      EXPECT_EQ(r0.buckets, 1u);  // everything in one 25 MB bucket: it starts when the last hook fires
      EXPECT_EQ(r0.launches[0].hooks_fired, r0.hooks);
    }
  }
  torch::set_num_threads(threads);
}
