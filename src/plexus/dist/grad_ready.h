// The autograd plumbing under overlapped gradient averaging (grad_buckets.h): which nodes a backward will run,
// and a "gradient ready" signal per parameter.
//
// autograd gives every leaf tensor that requires grad one AccumulateGrad node (its "gradient accumulator");
// the engine runs a node once per backward, after summing every incoming partial gradient into the node's
// input buffer, and runs the node's post-hooks right after it, by which time param.grad holds the parameter's
// gradient for this backward. So a post-hook on that node fires once per backward per parameter, even for a
// parameter used several times (an embedding tied to the output head). DDP's Reducer
// (torch/csrc/distributed/c10d/reducer.cpp) uses the same hook; Node::add_post_hook / del_post_hook exist in
// LibTorch 1.13 and 2.x alike. The parameter holds its accumulator only weakly, so the hook object keeps it
// alive: every later forward then reuses the hooked node.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_set>

namespace torch::autograd {
struct Node;
}

namespace plexus::dist {

/// Every autograd node a backward from `loss` will run: those reachable from loss.grad_fn() through
/// next_edges (the walk DDP's find_unused_parameters makes). Empty when `loss` has no grad_fn.
std::unordered_set<const torch::autograd::Node*> backward_nodes(const torch::Tensor& loss);

/// Calls `on_ready` after each backward has finished `param`'s gradient (a post-hook on its accumulator);
/// removes the hook when destroyed. `on_ready` may run on autograd's worker threads.
/// Throws: Error(Internal) if `param` has no accumulator (not a leaf that requires grad).
class GradReadyHook {
 public:
  GradReadyHook(const torch::Tensor& param, std::function<void()> on_ready);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;

  /// The parameter's accumulator node (what backward_nodes() contains when this step reaches it).
  const torch::autograd::Node* accumulator() const { return accumulator_.get(); }

 private:
  std::shared_ptr<torch::autograd::Node> accumulator_;
  uintptr_t key_ = 0;
};

}  // namespace plexus::dist
