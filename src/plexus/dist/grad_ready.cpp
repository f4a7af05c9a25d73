#include "plexus/dist/grad_ready.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <vector>

#include "plexus/core/error.h"

namespace plexus::dist {

std::unordered_set<const torch::autograd::Node*> backward_nodes(const torch::Tensor& loss) {
  std::unordered_set<const torch::autograd::Node*> seen;
  std::vector<const torch::autograd::Node*> todo;
  if (loss.grad_fn()) todo.push_back(loss.grad_fn().get());
  while (!todo.empty()) {
    const auto* n = todo.back();
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    for (const auto& e : n->next_edges())
      if (e.function && !seen.count(e.function.get())) todo.push_back(e.function.get());
  }
  return seen;
}

namespace {

class ReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  explicit ReadyHook(std::function<void()> on_ready) : on_ready_(std::move(on_ready)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    on_ready_();
    return outputs;
  }

 private:
  std::function<void()> on_ready_;
};

}  // namespace

GradReadyHook::GradReadyHook(const torch::Tensor& param, std::function<void()> on_ready)
    : accumulator_(torch::autograd::impl::grad_accumulator(param)) {
  PLEXUS_CHECK(accumulator_ != nullptr, "a parameter has no gradient accumulator (not a leaf?)");
  key_ = accumulator_->add_post_hook(std::make_unique<ReadyHook>(std::move(on_ready)));
}

GradReadyHook::~GradReadyHook() { accumulator_->del_post_hook(key_); }

}  // namespace plexus::dist
