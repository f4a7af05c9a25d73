#include "plexus/bbpt/bbpt_runner.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/file_io.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_lifecycle.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/run_support.h"
#include "plexus/fl/worker_pool.h"
#include "plexus/serve/api_server.h"
#include "plexus/serve/black_box.h"
#include "plexus/serve/server_process.h"

namespace plexus::bbpt {

namespace fs = std::filesystem;
using fl::Row;
using Json = nlohmann::ordered_json;

namespace {

// Who may query: one key per client plus one unlimited evaluation key.
struct Keys {
  std::vector<std::string> clients;
  std::vector<int64_t> budgets;  // external server: each client key's budget from its keys file
  std::string eval;
};

// Keys of a server this run starts itself: random (seed, "api_key", i) hex strings, not guessable from the config.
Keys own_keys(const fl::FlConfig& cfg) {
  Keys k;
  auto hex = [&](uint64_t i) {
    Rng r(cfg.run.seed, "api_key", i);
    return fmt::format("{:016x}{:016x}", r(), r());
  };
  for (int64_t i = 0; i < cfg.fl.clients; ++i) k.clients.push_back(hex(static_cast<uint64_t>(i)));
  k.eval = hex(static_cast<uint64_t>(cfg.fl.clients));
  return k;
}

// Keys of an external server, read from its keys file in file order: limited keys → clients, the first
// unlimited key → evaluation. The file is checked as `plexus serve --keys` checks it (serve::load_keys).
Keys external_keys(const fl::FlConfig& cfg) {
  const auto& path = cfg.bbpt.api_keys;
  try {
    serve::load_keys(path);
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("[bbpt] api_keys: {} (set bbpt.api_keys to the keys file of the server at "
                                      "bbpt.api_url)", e.what()));
  }
  Keys k;
  const Json j = Json::parse(read_file(path));  // valid: load_keys read it
  for (const auto& [key, v] : j["keys"].items()) {
    if (v["budget"].is_null()) {
      if (k.eval.empty()) k.eval = key;
    } else {
      k.clients.push_back(key);
      k.budgets.push_back(v["budget"].get<int64_t>());
    }
  }
  if (static_cast<int64_t>(k.clients.size()) < cfg.fl.clients || k.eval.empty()) {
    throw Error::config("[bbpt] api_keys = \"{}\" has {} limited keys and {} unlimited key; the run needs {} client "
                        "keys (fl.clients) and one unlimited evaluation key", path, k.clients.size(),
                        k.eval.empty() ? 0 : 1, cfg.fl.clients);
  }
  k.clients.resize(static_cast<size_t>(cfg.fl.clients));
  k.budgets.resize(static_cast<size_t>(cfg.fl.clients));
  return k;
}

// What a running server (bbpt.api_url) allows, asked through GET /v1/info before the run directory is opened.
struct External {
  Keys keys;
  nlohmann::json info;        // /v1/info of the evaluation key (the task description)
  std::vector<int64_t> left;  // each client key's remaining calls now
  int64_t max_batch = 0;      // the server's limits.max_batch (0: not reported)
};

// Probe the server at bbpt.api_url with every key of bbpt.api_keys. /v1/info costs no query.
// Throws: Error(Config) for a malformed URL or keys file, a key the server does not know, or a training batch over
// the server's max batch; Error(Io) if nothing answers at the URL.
External probe_external(const fl::FlConfig& cfg) {
  const auto& url = cfg.bbpt.api_url;
  External ext;
  ext.keys = external_keys(cfg);
  auto ask = [&](const std::string& key) {
    try {
      serve::ApiClient api(url, key);  // Error(Config) for a URL that is not http://host:port
      const serve::RawReply r = api.send("GET", "/v1/info");  // Error(Io) if nothing answers
      if (r.status == 401) {
        throw Error::config("[bbpt] api_keys = \"{}\": the server at {} does not know key '{}'; set bbpt.api_keys to "
                            "that server's keys file", cfg.bbpt.api_keys, url, clip_text(key, 40));
      }
      auto j = Json::parse(r.body, nullptr, false);
      if (r.status != 200 || !j.is_object()) {
        throw Error::data("GET /v1/info answered HTTP {} with {}; is a `plexus serve` listening there?", r.status,
                          clip_text(r.body, 120));
      }
      return j;
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("[bbpt]", 0) == 0) throw;
      throw Error(e.kind(), fmt::format("[bbpt] api_url = \"{}\": {}", clip_text(url, 80), e.what()));
    }
  };
  ext.info = ask(ext.keys.eval);
  if (const auto* lim = ext.info.contains("limits") ? &ext.info["limits"] : nullptr;
      lim && lim->is_object() && lim->contains("max_batch") && (*lim)["max_batch"].is_number_integer()) {
    ext.max_batch = (*lim)["max_batch"].get<int64_t>();
  }
  if (ext.max_batch > 0 && cfg.train.batch_size > ext.max_batch) {
    throw Error::config("[train] batch_size = {} is over the max batch of {} examples per call of the server at {} "
                        "(its /v1/info limits.max_batch); one minibatch is one API call: set train.batch_size <= {}",
                        cfg.train.batch_size, ext.max_batch, url, ext.max_batch);
  }
  for (size_t i = 0; i < ext.keys.clients.size(); ++i) {
    const auto j = ask(ext.keys.clients[i]);
    auto integer = [&](const char* f) { return j.contains(f) && j[f].is_number_integer(); };
    int64_t left = ext.keys.budgets[i];  // a server that does not report usage: the keys file's budget
    if (integer("queries_left")) left = j["queries_left"].get<int64_t>();
    else if (integer("query_budget") && integer("queries_used"))
      left = j["query_budget"].get<int64_t>() - j["queries_used"].get<int64_t>();
    else if (j.contains("query_budget") && j["query_budget"].is_null())
      left = std::numeric_limits<int64_t>::max() / 2;  // unlimited on that server
    ext.left.push_back(std::max<int64_t>(0, left));
  }
  return ext;
}

// A budget that cannot pay for one local step would run rounds in which nobody trains: refuse it before the run
// directory exists. `left` is each external key's remaining calls (null: the run starts its own server).
// Throws: Error(Config) naming bbpt.query_budget, or bbpt.api_keys for an external server.
void check_budget_pays_a_step(const fl::FlConfig& cfg, const std::vector<int64_t>* left) {
  if (cfg.fl.algorithm == "bbpt_whitebox") return;  // true gradients: no queries
  const auto& b = cfg.bbpt;
  const bool text = b.task == "text";
  const int64_t step = text ? b.samples : 2 * b.spsa_perturbations;  // API calls per local step
  const std::string why = text ? fmt::format("I = bbpt.samples = {}", b.samples)
                               : fmt::format("2q with q = bbpt.spsa_perturbations = {}", b.spsa_perturbations);
  if (!left && b.query_budget < step) {
    throw Error::config("[bbpt] query_budget = {} cannot pay for one local step ({} API calls: {}); raise "
                        "bbpt.query_budget to at least {}", b.query_budget, step, why, step);
  }
  if (left && !left->empty() && *std::max_element(left->begin(), left->end()) < step) {
    throw Error::config("[bbpt] api_keys = \"{}\": no client key of the server at {} has the {} calls one local step "
                        "needs ({}) left (most: {}); give the clients keys with larger budgets in that server's keys "
                        "file", b.api_keys, b.api_url, step, why, *std::max_element(left->begin(), left->end()));
  }
}

// Write the keys file of a child server: each client's remaining budget, evaluation unlimited.
void write_keys(const fs::path& file, const Keys& keys, const std::vector<QueryAccount>& acct) {
  Json j;
  j["keys"] = Json::object();
  for (size_t i = 0; i < keys.clients.size(); ++i) j["keys"][keys.clients[i]] = {{"budget", acct[i].left()}};
  j["keys"][keys.eval] = {{"budget", nullptr}};
  std::ofstream(file) << j.dump(2) << "\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

// The first eval_size examples of a seeded permutation of the test split (all of it for 0).
std::vector<int64_t> eval_subset(const fl::FlConfig& cfg, int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  Rng(cfg.run.seed, "bbpt_eval").shuffle(idx);
  if (cfg.bbpt.eval_size > 0 && cfg.bbpt.eval_size < n) idx.resize(static_cast<size_t>(cfg.bbpt.eval_size));
  return idx;
}

struct Accuracy {
  double local_mean = NAN, local_std = NAN, global = NAN;
};

// The checks of a --resume (core start_run) for a run that has no checkpoint yet: the saved config must equal
// this one except what a resume may change, and the data must be the recorded data.
// Throws: Error(Config) for a changed key; Error(Data) for a missing config.toml or other data.
void check_restart(const RunDir& dir, const RunSpec& spec) {
  const fs::path saved = dir.path() / "config.toml";
  if (!fs::exists(saved)) {
    throw Error::data("--resume: '{}' is missing, so the resume cannot be checked; restore it or start a new run.name",
                      saved.string());
  }
  check_resume_config(load_toml(saved), *spec.config, spec.rules);
  const fs::path recorded = dir.path() / "data.json";
  if (!fs::exists(recorded)) return;
  DataFingerprint was;
  try {
    was = DataFingerprint::from_json(nlohmann::json::parse(read_file(recorded)));
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("'{}' is unreadable ({}); restore it or start a new run.name", recorded.string(), e.what());
  }
  if (was.digest != spec.data.digest || nlohmann::json(was.sizes) != nlohmann::json(spec.data.sizes)) {
    throw Error::data("--resume: the data differ from the run's: now {} ({}) but the run was started on {} ({}); point "
                      "the data path back at the original data or start a new run.name", spec.data.source,
                      spec.data.digest, was.source, was.digest);
  }
}

}  // namespace

fl::RunResult run_bbpt(const fl::FlConfig& user_cfg, bool resume, const BbptRecipe& recipe) {
  const fl::Algorithm& algo = fl::find_algorithm(user_cfg.fl.algorithm);
  auto t_load = fl::Clock::now();
  fl::setup_workers(user_cfg.run, torch::kCPU, false);  // one intra-op thread per client: results do not depend on workers
  // Everything that can be checked without the run directory fails before it exists: the model directory, or
  // the external server (its URL, keys file, keys and limits, asked through GET /v1/info).
  std::optional<External> ext;
  if (user_cfg.bbpt.api_url.empty()) {
    const auto& b = user_cfg.bbpt;
    const std::string want = b.task == "text" ? "llm" : "image";  // serve::run_kind of the black box
    std::string kind;
    try {
      kind = serve::run_kind(b.model);
    } catch (const Error& e) {
      throw Error::config("[bbpt] model = \"{}\" cannot be served ({}); set bbpt.model to a trained black box, e.g. "
                          "a run of configs/{}.toml", b.model, e.what(),
                          b.task == "text" ? "bbpt_text_source" : "bbpt_source");
    }
    if (kind != want) {
      throw Error::config("[bbpt] model = \"{}\" is an {} run, but bbpt.task = \"{}\" needs an {} run (configs/{}.toml)",
                          b.model, kind, b.task, want,
                          b.task == "text" ? "bbpt_text_source" : "bbpt_source");
    }
  } else {
    ext = probe_external(user_cfg);
  }
  check_budget_pays_a_step(user_cfg, ext ? &ext->left : nullptr);
  // The config the run works with: evaluation calls split to the external server's max batch (training batches
  // were checked against it). config.toml keeps the user's values.
  fl::FlConfig run_cfg = user_cfg;
  if (ext && ext->max_batch > 0 && ext->max_batch < run_cfg.bbpt.max_batch) {
    log_info("bbpt: the server at {} takes at most {} examples per call (bbpt.max_batch = {}): evaluation calls are "
             "split to {}", run_cfg.bbpt.api_url, ext->max_batch, run_cfg.bbpt.max_batch, ext->max_batch);
    run_cfg.bbpt.max_batch = ext->max_batch;
  }
  const fl::FlConfig& cfg = run_cfg;
  const auto& b = cfg.bbpt;
  auto task = make_prompt_task(cfg);
  const auto& data = task->data();
  if (ext) task->check_fits(ext->info);

  const int64_t N = cfg.fl.clients;
  const int64_t P = task->size();
  auto tuner = recipe.tuner(*task);
  std::vector<int64_t> sizes;
  for (const auto& c : data.client_train) sizes.push_back(static_cast<int64_t>(c.size()));

  // State: prompts X [N,P] (all θ0), correction rows M [N,P], spent queries per client.
  torch::Tensor X = task->initial().unsqueeze(0).repeat({N, 1}).contiguous();
  torch::Tensor M = torch::zeros_like(X);
  std::vector<QueryAccount> acct(static_cast<size_t>(N), QueryAccount{b.query_budget, 0});
  int64_t eval_calls = 0;
  std::optional<std::pair<double, double>> zero_ck;  // zero-shot (local, global) of the run being resumed

  // The run directory, as fl::open_run, except that a --resume of a run stopped before its first checkpoint
  // starts again from round 0 (after the same config and data checks) instead of failing.
  RunDir dir(user_cfg.run.out_dir, user_cfg.run.name, resume);
  RunSpec spec;
  spec.config = &user_cfg.resolved;
  spec.rules = fl::fl_resume_rules();
  // A restarted external server may listen elsewhere and keep its keys file elsewhere; the budgets carried in
  // the checkpoint and the server's /v1/info decide what each client may still spend.
  spec.rules.harmless.insert(spec.rules.harmless.end(), {"bbpt.api_url", "bbpt.api_keys"});
  spec.data = fl::fl_data_fingerprint(user_cfg, data);
  spec.target = user_cfg.fl.rounds;
  spec.target_key = "fl.rounds";
  fs::path ckpt_path;
  const bool restart = resume && list_checkpoints(dir.checkpoints()).empty();  // none written yet
  if (restart) {
    check_restart(dir, spec);
    start_run(dir, spec, /*resume=*/false);  // config.toml and data.json, as a fresh run
  } else {
    ckpt_path = start_run(dir, spec, resume).checkpoint;
  }
  int64_t start = 0;
  if (restart) {
    dir.metrics().truncate_after("round", 0);
    log_info("bbpt: --resume: no checkpoint in {} (the run stopped before its first one): starting again from round 0",
             dir.checkpoints().string());
  } else if (resume) {
    auto ck = load_checkpoint(ckpt_path);
    X.copy_(ck.tensors.at("X"));
    M.copy_(ck.tensors.at("M"));
    const auto used = ck.meta.at("queries_used").get<std::vector<int64_t>>();
    for (int64_t i = 0; i < N; ++i) acct[static_cast<size_t>(i)].used = used.at(static_cast<size_t>(i));
    eval_calls = ck.meta.value("eval_queries", int64_t{0});
    auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
    if (ck.meta.contains("zero_shot")) zero_ck = {num(ck.meta["zero_shot"][0]), num(ck.meta["zero_shot"][1])};
    start = ck.meta.at("round").get<int64_t>();
    dir.metrics().truncate_after("round", start);
    log_info("bbpt: resuming after round {} from {}", start, ckpt_path.string());
  }

  // The black box: a child `plexus serve` holding the remaining budgets, or the configured server, whose keys
  // have what its /v1/info reported left (a key spent elsewhere before this run is accounted for).
  Keys keys = ext ? ext->keys : own_keys(cfg);
  if (ext) {
    for (size_t i = 0; i < acct.size(); ++i) acct[i].budget = acct[i].used + ext->left[i];
  }
  std::unique_ptr<serve::ServerProcess> server;
  std::string url = b.api_url;
  try {
    if (url.empty()) {
      const fs::path kf = dir.path() / "api_keys.json";  // the run's own secret keys, readable by its owner only
      write_keys(kf, keys, acct);
      auto serve_args = task->serve_args();
      serve_args.insert(serve_args.end(), {"--max-batch", std::to_string(b.max_batch)});
      server = std::make_unique<serve::ServerProcess>(serve::ServerProcessOptions{
          .model = b.model, .keys = kf, .extra_args = serve_args});
      url = server->url();
      task->check_fits(serve::ApiClient(url, keys.eval).info());  // an external server's was checked earlier
    }
  } catch (const Error&) {
    // A fresh run whose black box cannot start leaves nothing behind, as the checks before the directory do
    // (a resumed run keeps its directory: it holds checkpoints).
    if (!resume) {
      std::error_code ec;
      fs::remove_all(dir.path(), ec);
    }
    throw;
  }
  serve::ApiClient eval_api(url, keys.eval);
  std::vector<serve::ApiClient> apis;
  for (const auto& k : keys.clients) apis.emplace_back(url, k);
  const auto eval_idx = eval_subset(cfg, data.test.size());
  const int64_t workers = std::max<int64_t>(1, cfg.run.threads > 0 ? cfg.run.threads : 2);
  log_info("bbpt: {}: {} ({} train / {} test), {} clients, black box {} at {}; loaded in {:.1f}s", algo.title,
           task->describe(), data.train.size(), data.test.size(), N,
           b.api_url.empty() ? b.model : std::string("(external)"), url, fl::seconds_since(t_load));

  // Evaluation through the API (its own key): prompt i on client i's local test set, and θ̄ on the eval subset.
  auto evaluate = [&](bool global) {
    const int64_t before = eval_api.calls();
    Accuracy a;
    std::vector<double> local(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
      local[static_cast<size_t>(i)] =
          task->evaluate(X[i], data.client_test[static_cast<size_t>(i)], eval_api).accuracy();
    }
    const auto ms = fl::mean_std(local);
    a.local_mean = ms.mean, a.local_std = ms.std;
    if (global) a.global = task->evaluate(X[0], eval_idx, eval_api).accuracy();
    eval_calls += eval_api.calls() - before;
    return a;
  };
  // θ0: the black box without a (learned) prompt; measured once per run, a resume reads it from the checkpoint.
  const Accuracy zero = zero_ck ? Accuracy{zero_ck->first, NAN, zero_ck->second} : evaluate(true);
  log_info("bbpt: zero-shot (no prompt): local acc {:.4f}, global acc {:.4f}", zero.local_mean, zero.global);

  Progress progress("round", cfg.fl.rounds, start + 1);
  const double before = fl::elapsed_before(dir.metrics().rows());  // a resume's earlier sessions (fl/run_support.h)
  auto t_run = fl::Clock::now();
  for (int64_t t = start; t < cfg.fl.rounds; ++t) {
    const int64_t r = t + 1;
    const bool eval_now = r % cfg.fl.eval_every == 0 || r == cfg.fl.rounds;
    auto t0 = fl::Clock::now();
    const auto who = fl::sample_clients(cfg, t);
    std::vector<TuneStats> st(who.size());
    std::vector<int64_t> bytes(who.size()), calls(who.size());
    for (int64_t c : who) M[c].zero_();
    fl::parallel_for(static_cast<int64_t>(who.size()), workers, [&](int64_t, int64_t k) {
      const int64_t c = who[static_cast<size_t>(k)];
      auto& api = apis[static_cast<size_t>(c)];
      const int64_t b0 = api.bytes_sent() + api.bytes_received(), used0 = acct[static_cast<size_t>(c)].used;
      st[static_cast<size_t>(k)] = tuner->tune(c, t, X[c], M[c], data.client_train[static_cast<size_t>(c)], api,
                                               acct[static_cast<size_t>(c)]);
      bytes[static_cast<size_t>(k)] = api.bytes_sent() + api.bytes_received() - b0;
      calls[static_cast<size_t>(k)] = acct[static_cast<size_t>(c)].used - used0;
    });
    const double t_train = fl::seconds_since(t0);
    if (recipe.federated && !who.empty()) {  // FedAvg of the prompts, θ^{t+1} to every client
      torch::NoGradGuard ng;
      const auto w = fl::averaging_weights(sizes, who);
      auto avg = torch::matmul(torch::tensor(w, torch::kFloat64).to(torch::kFloat32).unsqueeze(0),
                               X.index_select(0, torch::tensor(who, torch::kLong)));
      X.copy_(avg.expand_as(X));
    }
    auto te = fl::Clock::now();
    const Accuracy acc = eval_now ? evaluate(recipe.federated) : Accuracy{};
    const double t_eval = fl::seconds_since(te);

    double loss = 0, round_bytes = 0;
    int64_t round_calls = 0, out_of_budget = 0, counted = 0;
    for (size_t k = 0; k < who.size(); ++k) {
      if (st[k].steps > 0) loss += st[k].loss, ++counted;
      round_bytes += static_cast<double>(bytes[k]);
      round_calls += calls[k];
      out_of_budget += st[k].out_of_budget ? 1 : 0;
    }
    int64_t total_calls = 0;
    for (const auto& a : acct) total_calls += a.used;
    const double m = static_cast<double>(std::max<size_t>(1, who.size()));
    Row row;
    row["round"] = r;
    row["train_loss"] = counted ? loss / static_cast<double>(counted) : NAN;
    row["participants"] = static_cast<int64_t>(who.size());
    row["local_acc_mean"] = acc.local_mean;
    row["local_acc_std"] = acc.local_std;
    row["global_acc"] = acc.global;
    row["queries"] = round_calls;                                    // client API calls this round
    row["queries_per_client"] = static_cast<double>(round_calls) / m;
    row["queries_total"] = total_calls;                              // client API calls since the start
    row["api_bytes_per_client"] = round_bytes / m;                   // request + response bodies
    row["model_bytes_per_client"] = recipe.federated ? 2.0 * 4.0 * static_cast<double>(P) : 0.0;  // θ down + up, f32
    row["clients_out_of_budget"] = out_of_budget;
    row["eval_queries_total"] = eval_calls;
    row["seconds_train"] = t_train;
    row["seconds_eval"] = t_eval;
    row["seconds"] = fl::seconds_since(t0);
    row["seconds_elapsed"] = before + fl::seconds_since(t_run);  // the run's wall time so far, over every session
    dir.metrics().append(fl::nan_to_null(row));
    std::string line = fmt::format("loss {:.4f}  queries {} (total {})", row["train_loss"].get<double>(), round_calls,
                                   total_calls);
    if (eval_now) line += fmt::format("  local acc {:.4f}", acc.local_mean);
    if (eval_now && recipe.federated) line += fmt::format("  global acc {:.4f}", acc.global);
    progress.update(r, line);
    if (out_of_budget > 0 && out_of_budget == static_cast<int64_t>(who.size())) {
      log_warn("bbpt: round {}: every participant's query budget is spent (raise bbpt.query_budget)", r);
    }
    if (r == cfg.fl.rounds || (cfg.run.checkpoint_every > 0 && r % cfg.run.checkpoint_every == 0)) {
      Checkpoint ck;
      ck.tensors["X"] = X;
      ck.tensors["M"] = M;
      std::vector<int64_t> used;
      for (const auto& a : acct) used.push_back(a.used);
      ck.meta = {{"round", r}, {"algorithm", cfg.fl.algorithm}, {"queries_used", used}, {"eval_queries", eval_calls},
                 {"zero_shot", {std::isnan(zero.local_mean) ? nlohmann::json() : nlohmann::json(zero.local_mean),
                                std::isnan(zero.global) ? nlohmann::json() : nlohmann::json(zero.global)}}};
      fl::save_round_checkpoint(dir, ck, r, cfg.run.keep_checkpoints);
    }
  }
  progress.finish();

  fl::RunResult result;
  result.run_dir = dir.path().string();
  result.rows = dir.metrics().rows();
  Row sum;
  sum["algorithm"] = algo.title;
  sum["source"] = algo.source;
  sum["clients"] = N;
  sum["rounds"] = cfg.fl.rounds;
  sum["parameters"] = P;
  sum["task"] = task->describe();
  sum["zero_shot_local_acc_mean"] = zero.local_mean;
  sum["zero_shot_global_acc"] = zero.global;
  const auto& last = result.rows.back();
  sum["local_acc_mean"] = last["local_acc_mean"];
  sum["global_acc"] = last["global_acc"];
  const auto best = fl::best_of(result.rows, recipe.federated ? "global_acc" : "local_acc_mean");
  sum["best_acc"] = best.value;
  sum["best_round"] = best.round;
  sum["queries_total"] = last["queries_total"];
  sum["eval_queries_total"] = eval_calls;
  sum["query_budget_per_client"] = b.query_budget;
  sum["seconds"] = before + fl::seconds_since(t_run);  // the whole run's, resumes included
  sum["run_dir"] = result.run_dir;
  result.summary = fl::nan_to_null(sum);
  dir.write_summary(result.summary);
  if (server) server->stop();
  auto acc4 = [](const Json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : v.dump(); };
  log_info("bbpt: done: local acc {} (zero-shot {:.4f}), global acc {} (zero-shot {:.4f}); {} client queries; "
           "results in {}", acc4(last["local_acc_mean"]), zero.local_mean, acc4(last["global_acc"]), zero.global,
           last["queries_total"].dump(), result.run_dir);
  return result;
}

}  // namespace plexus::bbpt
