// Parity of plexus with the eager PyTorch reference on any dump of bench/llm_parity.py (the GPU side of
// tests/llm/parity_test.cpp, for machines where the test suite is not built): one JSON line per dump with the
// routing check and the worst logits / loss / gradient differences against the dtype's tolerance; exit 1 if any
// is outside it. See docs/llm.md#parity-with-the-reference.
//   llm_parity /tmp/parity_cuda_f32 /tmp/parity_cuda_bf16 [--attn eager]
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plexus/core/error.h"
#include "plexus/llm/parity.h"

using namespace plexus;
using namespace plexus::llm;

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  std::string attn;  // model.attn_implementation override: sdpa | sdpa_padded | eager
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--attn" && i + 1 < argc) attn = argv[++i];
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: llm_parity DIR... [--attn sdpa|sdpa_padded|eager]\n");
      return 2;
    } else dirs.push_back(a);
  }
  if (dirs.empty()) {
    std::fprintf(stderr, "usage: llm_parity DIR... [--attn sdpa|sdpa_padded|eager]\n");
    return 2;
  }
  bool all_ok = true;
  for (const auto& dir : dirs) {
    try {
      auto d = load_parity_dump(dir);
      if (!attn.empty()) d.args.attn_implementation = attn;
      auto r = run_parity(d);
      nlohmann::ordered_json j;
      j["dump"] = dir;
      j["device"] = d.device;
      j["dtype"] = d.dtype;
      j["attn_implementation"] = d.args.attn_implementation;
      j["routing_equal"] = r.routing_equal();
      j["routing_margin"] = d.routing_margin;
      const std::pair<const char*, const char*> groups[] = {{"logits", "logits"}, {"loss", "loss."}, {"grad", "grad."}};
      for (const auto& [key, prefix] : groups) {
        const auto& w = r.worst(prefix);
        j[std::string("worst_") + key] =
            {{"name", w.name}, {"max_abs", w.max_abs}, {"rel", w.rel()}, {"tol", w.tol}, {"ok", w.ok()}};
      }
      int failing = 0;
      for (const auto& q : r.diffs) failing += !q.ok();
      j["failing"] = failing;
      j["ok"] = r.ok();
      all_ok = all_ok && r.ok();
      std::printf("%s\n", j.dump().c_str());
      for (const auto& q : r.diffs)
        if (!q.ok())
          std::fprintf(stderr, "llm_parity: %s: max abs %.3g > tol %.3g (scale %.3g)\n", q.name.c_str(), q.max_abs,
                       q.tol, q.scale);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s: %s\n", dir.c_str(), describe_exception(e).c_str());
      all_ok = false;
    }
  }
  return all_ok ? 0 : 1;
}
