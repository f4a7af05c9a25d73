#include "plexus/exp/report.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/options.h"
#include "plexus/core/run_dir.h"

namespace plexus::exp {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void flatten(const toml::table& t, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      flatten(*sub, key, out);
      continue;
    }
    if (const auto* f = v.as_floating_point()) {
      out[key] = toml_literal(f->get());  // 0.3 as written, not 0.29999999999999999
      continue;
    }
    std::stringstream ss;
    v.visit([&](auto&& x) { ss << x; });
    out[key] = ss.str();
  }
}

std::string unquote(const std::string& s) {
  return s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front() ? s.substr(1, s.size() - 2) : s;
}

bool is_run_dir(const fs::path& p) { return fs::exists(p / "config.toml") && fs::exists(p / "metrics.jsonl"); }

std::optional<double> number_at(const json& row, const std::string& key) {
  auto it = row.find(key);
  if (it == row.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

bool any_run_has(const std::vector<const RunRecord*>& runs, const std::string& key) {
  for (const auto* r : runs) {
    for (const auto& row : r->rows) {
      if (number_at(row, key)) return true;
    }
  }
  return false;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string family_title(const std::string& index) {
  if (index == "round") return "Federated learning runs (per round)";
  if (index == "step") return "LLM runs (per step)";
  if (index == "iteration") return "Tuner runs (per iteration)";
  return "Runs (per " + index + ")";
}

}  // namespace

std::vector<fs::path> find_runs(const std::vector<fs::path>& roots) {
  std::vector<fs::path> found;
  for (const auto& root : roots) {
    if (!fs::exists(root)) throw Error::io("'{}' does not exist (give run directories or sweep directories)", root.string());
    if (is_run_dir(root)) {
      found.push_back(root);
      continue;
    }
    if (!fs::is_directory(root))
      throw Error::io("'{}' is not a directory (give run directories or sweep directories)", root.string());
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
      if (!it->is_directory()) continue;
      const auto name = it->path().filename().string();
      if (name == "discarded" || name == "checkpoints" || name == "logs" || name == "plots") {
        it.disable_recursion_pending();
        continue;
      }
      if (is_run_dir(it->path())) found.push_back(it->path()), it.disable_recursion_pending();
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  if (found.empty()) {
    throw Error::data("no run directories (config.toml + metrics.jsonl) under the given paths; point plexus report "
                      "at a sweep directory or at runs/<name>");
  }
  return found;
}

RunRecord load_run(const fs::path& dir) {
  RunRecord r;
  r.dir = dir;
  flatten(load_toml(dir / "config.toml"), "", r.config);
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    try {
      r.rows.push_back(json::parse(line));
    } catch (const json::exception&) {
      // A torn last line of a killed run, or damage: either way the rows after it cannot be trusted.
      if (in.peek() != std::char_traits<char>::eof())
        log_warn("'{}' line {} is unreadable; the report uses only the {} row(s) before it",
                 (dir / "metrics.jsonl").string(), line_no, r.rows.size());
      break;
    }
  }
  if (r.rows.empty()) throw Error::data("'{}' has no metric rows yet", (dir / "metrics.jsonl").string());
  // The index column: round (FL), step (LLM) or iteration (tuners); rows are parsed unordered, so look
  // the known names up rather than take the first key.
  r.index = r.rows.front().begin().key();
  for (const char* k : {"round", "step", "iteration"}) {
    if (r.rows.front().contains(k)) {
      r.index = k;
      break;
    }
  }
  auto seed = r.config.find("run.seed");
  r.seed = seed == r.config.end() ? "?" : seed->second;
  return r;
}

Stat mean_std(const std::vector<double>& v) {
  Stat s;
  double sum = 0;
  for (double x : v) {
    if (std::isfinite(x)) sum += x, ++s.n;
  }
  if (s.n == 0) return s;
  s.mean = sum / s.n;
  if (s.n > 1) {
    double q = 0;
    for (double x : v) {
      if (std::isfinite(x)) q += (x - s.mean) * (x - s.mean);
    }
    s.std = std::sqrt(q / (s.n - 1));
  }
  return s;
}

std::vector<MetricSpec> table_metrics(const std::string& index) {
  if (index == "round") {
    return {{"local_acc_mean", "local acc", +1}, {"global_acc", "global acc", +1},
            {"before_acc_mean", "acc before local training", +1}, {"train_loss", "train loss", 0},
            {"epsilon", "ε", 0}};
  }
  if (index == "step") {
    return {{"loss", "train loss", -1}, {"val_loss", "val loss", -1}, {"reward", "reward", +1},
            {"reward_mean", "reward", +1}, {"tokens_per_s", "tokens/s", 0}};
  }
  if (index == "iteration") {
    return {{"regret", "regret", -1}, {"true_value", "true value", 0}, {"replays", "replays", 0}};
  }
  return {};
}

std::vector<PlotSpec> plot_specs(const std::string& index) {
  if (index == "round") {
    return {{"fl_local_acc", "local_acc_mean", "round", "Mean client test accuracy", "accuracy"},
            {"fl_global_acc", "global_acc", "round", "Test accuracy of the average model", "accuracy"},
            {"fl_before_acc", "before_acc_mean", "round", "Accuracy before local training", "accuracy"},
            {"fl_train_loss", "train_loss", "round", "Training loss", "loss"},
            {"fl_global_loss", "global_loss", "round", "Test loss of the average model", "loss"},
            {"fl_epsilon", "epsilon", "round", "Privacy spent ε", "ε"},
            {"fl_acc_queries", "local_acc_mean", "queries", "Accuracy vs API queries", "accuracy"}};
  }
  if (index == "step") {
    return {{"llm_loss", "loss", "step", "Training loss", "loss"},
            {"llm_val_loss", "val_loss", "step", "Validation loss", "loss"},
            {"llm_reward", "reward", "step", "Reward", "reward"},
            {"llm_reward_mean", "reward_mean", "step", "Reward", "reward"},
            {"llm_length", "completion_length", "step", "Completion length", "tokens"},
            {"llm_response_length", "response_length", "step", "Response length", "tokens"}};
  }
  if (index == "iteration") {
    return {{"tune_regret", "regret", "replays", "Regret vs replays", "regret"},
            {"tune_true_value", "true_value", "replays", "True objective of the incumbent", "objective"}};
  }
  return {};
}

std::vector<std::string> differing_keys(const std::vector<RunRecord>& runs) {
  static const std::set<std::string> kExcluded = {"run.name", "run.out_dir", "run.root", "run.seed", "run.device",
                                                  "run.threads", "run.tensorboard", "run.progress",
                                                  "run.checkpoint_every", "run.keep_checkpoints"};
  std::set<std::string> keys;
  for (const auto& r : runs) {
    for (const auto& [k, v] : r.config) keys.insert(k);
  }
  // A key that only some runs have (a tuner's own section, a privacy table) follows from a key that all
  // runs have (tuner.method, fl.algorithm): when such a key differs, it alone names the groups.
  std::vector<std::string> complete, partial;
  for (const auto& k : keys) {
    if (kExcluded.count(k)) continue;
    std::set<std::string> values;
    bool absent = false;
    for (const auto& r : runs) {
      auto it = r.config.find(k);
      absent = absent || it == r.config.end();
      values.insert(it == r.config.end() ? "<absent>" : it->second);
    }
    if (values.size() > 1) (absent ? partial : complete).push_back(k);
  }
  auto value = [](const RunRecord& r, const std::string& k) {
    auto it = r.config.find(k);
    return it == r.config.end() ? std::string("<absent>") : it->second;
  };
  // Keep the partial keys unless the complete ones already tell every pair of runs that differs in them apart.
  for (const auto& a : runs)
    for (const auto& b : runs) {
      bool same = true;
      for (const auto& k : complete) same = same && value(a, k) == value(b, k);
      if (!same) continue;
      for (const auto& k : partial)
        if (value(a, k) != value(b, k)) {
          complete.insert(complete.end(), partial.begin(), partial.end());
          std::sort(complete.begin(), complete.end());
          return complete;
        }
    }
  return complete.empty() ? partial : complete;
}

std::vector<Group> group_runs(const std::vector<RunRecord>& runs, const std::vector<std::string>& keys) {
  // Short labels: a key's last component unless two compared keys share it.
  auto label_of = [&](const std::string& k) {
    auto last = [](const std::string& s) { return s.substr(s.rfind('.') + 1); };
    int same = 0;
    for (const auto& o : keys) same += last(o) == last(k);
    return same > 1 ? k : last(k);
  };
  std::vector<Group> groups;
  for (const auto& r : runs) {
    std::vector<std::pair<std::string, std::string>> vals;
    for (const auto& k : keys) {
      auto it = r.config.find(k);
      vals.emplace_back(k, it == r.config.end() ? "<absent>" : unquote(it->second));
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.values == vals; });
    if (g == groups.end()) {
      Group ng;
      ng.values = vals;
      for (const auto& [k, v] : vals) ng.label += (ng.label.empty() ? "" : ", ") + label_of(k) + "=" + v;
      if (ng.label.empty()) ng.label = "all runs";
      groups.push_back(ng);
      g = groups.end() - 1;
    }
    g->runs.push_back(&r);
    g->seeds.push_back(r.seed);
  }
  return groups;
}

MetricSummary summarize(const Group& g, const std::string& index, const MetricSpec& m) {
  std::vector<double> finals, bests, best_at;
  for (const auto* r : g.runs) {
    std::optional<double> last, best, at;
    for (const auto& row : r->rows) {
      auto v = number_at(row, m.key);
      if (!v || !std::isfinite(*v)) continue;
      last = v;
      if (m.better != 0 && (!best || (m.better > 0 ? *v > *best : *v < *best))) best = v, at = number_at(row, index);
    }
    if (last) finals.push_back(*last);
    if (best) bests.push_back(*best), best_at.push_back(at.value_or(NAN));
  }
  return {mean_std(finals), mean_std(bests), mean_std(best_at)};
}

Curve curve(const Group& g, const std::string& index, const std::string& metric, const std::string& x) {
  std::map<double, std::pair<std::vector<double>, std::vector<double>>> at;  // index → (metric values, x values)
  for (const auto* r : g.runs) {
    for (const auto& row : r->rows) {
      auto i = number_at(row, index), v = number_at(row, metric), xv = number_at(row, x);
      if (!i || !v || !xv || !std::isfinite(*v)) continue;
      at[*i].first.push_back(*v);
      at[*i].second.push_back(*xv);
    }
  }
  Curve c;
  for (const auto& [i, vx] : at) {
    Stat s = mean_std(vx.first);
    c.x.push_back(mean_std(vx.second).mean);
    c.mean.push_back(s.mean);
    c.std.push_back(s.std);
    c.n.push_back(s.n);
  }
  return c;
}

std::string format_stat(const Stat& s) {
  if (s.n == 0) return "–";
  const double a = std::fabs(s.mean);
  const bool g = a >= 1e4 || (a > 0 && a < 1e-3);
  std::string m = g ? fmt::format("{:.4g}", s.mean) : fmt::format("{:.4f}", s.mean);
  if (s.n == 1) return m;
  return m + " ± " + (g ? fmt::format("{:.2g}", s.std) : fmt::format("{:.4f}", s.std));
}

ReportFiles write_report(const std::vector<RunRecord>& runs, const fs::path& out,
                         const std::vector<std::string>& group_by, bool with_plots) {
  fs::create_directories(with_plots ? out / "plots" : out);
  ReportFiles files{out / "report.md", out / "report.html", out / "report_data.json", {}};
  std::vector<std::string> indexes;
  for (const auto& r : runs) {
    if (std::find(indexes.begin(), indexes.end(), r.index) == indexes.end()) indexes.push_back(r.index);
  }
  std::string md = "# plexus report\n\n", html;
  html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>plexus report</title><style>"
         "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
         "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
         "img{max-width:100%}</style></head><body>\n<h1>plexus report</h1>\n";
  md += fmt::format("{} run(s). Each cell: mean ± sample std over the group's seeds; *final* is the last reported "
                    "value, *best* the best over rounds, with the mean round it was reached.\n\n", runs.size());
  html += fmt::format("<p>{} run(s). Each cell: mean ± sample std over the group's seeds; <i>final</i> is the last "
                      "reported value, <i>best</i> the best over rounds, with the mean round it was reached.</p>\n",
                      runs.size());
  json data = {{"plots", json::array()}};

  for (const auto& index : indexes) {
    std::vector<RunRecord> fam;
    for (const auto& r : runs) {
      if (r.index == index) fam.push_back(r);
    }
    auto keys = differing_keys(fam);
    if (!group_by.empty()) {
      std::vector<std::string> others;
      for (const auto& k : keys) {
        if (std::find(group_by.begin(), group_by.end(), k) == group_by.end()) others.push_back(k);
      }
      keys = group_by;
      for (const auto& k : keys) {
        bool known = std::any_of(fam.begin(), fam.end(), [&](const RunRecord& r) { return r.config.count(k) > 0; });
        if (!known) throw Error::config("--group-by: '{}' is not a key of these runs' config.toml (write section.key)", k);
      }
      // Each other differing key must be constant inside every group, or the group would mix settings.
      for (const auto& g : group_runs(fam, keys)) {
        for (const auto& k : others) {
          std::set<std::string> seen;
          for (const auto* r : g.runs) seen.insert(r->config.count(k) ? r->config.at(k) : "<absent>");
          if (seen.size() > 1) {
            throw Error::config("--group-by: the runs of group '{}' differ in {}; add it to --group-by", g.label, k);
          }
        }
      }
    }
    auto groups = group_runs(fam, keys);
    std::vector<const RunRecord*> all;
    for (const auto& r : fam) all.push_back(&r);
    md += "## " + family_title(index) + "\n\n";
    html += "<h2>" + html_escape(family_title(index)) + "</h2>\n";
    std::string keys_text;
    for (const auto& k : keys) keys_text += (keys_text.empty() ? "" : ", ") + k;
    md += fmt::format("{} runs in {} group(s); grouped by {}.\n\n", fam.size(), groups.size(),
                      keys.empty() ? "nothing (the runs differ only in seed)" : keys_text);
    html += "<p>" + html_escape(fmt::format("{} runs in {} group(s); grouped by {}.", fam.size(), groups.size(),
                                            keys.empty() ? "nothing (the runs differ only in seed)" : keys_text)) +
            "</p>\n";

    // Table: group, seeds, then final (and best, best round) per metric present.
    std::vector<std::string> header = {"group", "seeds"};
    std::vector<MetricSpec> metrics;
    for (const auto& m : table_metrics(index)) {
      if (!any_run_has(all, m.key)) continue;
      metrics.push_back(m);
      header.push_back("final " + m.label);
      if (m.better != 0) header.push_back("best " + m.label), header.push_back("best " + index);
    }
    std::vector<std::vector<std::string>> table;
    for (const auto& g : groups) {
      std::string seeds;
      for (const auto& s : g.seeds) seeds += (seeds.empty() ? "" : ",") + s;
      std::vector<std::string> row = {g.label, fmt::format("{} ({})", g.runs.size(), seeds)};
      for (const auto& m : metrics) {
        auto s = summarize(g, index, m);
        row.push_back(format_stat(s.final));
        if (m.better != 0) {
          row.push_back(format_stat(s.best));
          row.push_back(s.best_at.n ? fmt::format("{:.1f}", s.best_at.mean) : "–");
        }
      }
      table.push_back(row);
    }
    auto md_row = [](const std::vector<std::string>& cells) {
      std::string l = "|";
      for (const auto& c : cells) l += " " + c + " |";
      return l + "\n";
    };
    md += md_row(header);
    md += md_row(std::vector<std::string>(header.size(), "---"));
    for (const auto& r : table) md += md_row(r);
    html += "<table>\n<tr>";
    for (const auto& h : header) html += "<th>" + html_escape(h) + "</th>";
    html += "</tr>\n";
    for (const auto& r : table) {
      html += "<tr>";
      for (const auto& c : r) html += "<td>" + html_escape(c) + "</td>";
      html += "</tr>\n";
    }
    html += "</table>\n";
    md += "\n";

    for (const auto& p : plot_specs(index)) {
      if (!any_run_has(all, p.metric) || !any_run_has(all, p.x)) continue;
      json plot = {{"name", p.name}, {"title", p.title}, {"xlabel", p.x}, {"ylabel", p.ylabel}, {"series", json::array()}};
      for (const auto& g : groups) {
        Curve c = curve(g, index, p.metric, p.x);
        if (c.x.empty()) continue;
        plot["series"].push_back({{"label", g.label}, {"x", c.x}, {"mean", c.mean}, {"std", c.std}, {"n", c.n}});
      }
      data["plots"].push_back(plot);
      if (!with_plots) continue;
      files.plots.push_back(out / "plots" / (p.name + ".png"));
      files.plots.push_back(out / "plots" / (p.name + ".svg"));
      md += fmt::format("![{}](plots/{}.png)\n\n", p.title, p.name);
      html += fmt::format("<h3>{}</h3>\n<img src=\"plots/{}.svg\" alt=\"{}\">\n", html_escape(p.title), p.name,
                          html_escape(p.title));
    }
    md += "Runs:\n\n";
    html += "<h3>Runs</h3>\n<ul>\n";
    for (const auto& g : groups) {
      for (const auto* r : g.runs) {
        md += fmt::format("- {} (seed {}): `{}`\n", g.label, r->seed, r->dir.string());
        html += fmt::format("<li>{} (seed {}): <code>{}</code></li>\n", html_escape(g.label), html_escape(r->seed),
                            html_escape(r->dir.string()));
      }
    }
    md += "\n";
    html += "</ul>\n";
  }
  html += "</body></html>\n";
  atomic_write(files.markdown, md);
  atomic_write(files.html, html);
  atomic_write(files.data, data.dump(1) + "\n");
  return files;
}

}  // namespace plexus::exp
