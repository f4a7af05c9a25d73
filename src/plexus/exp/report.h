// `plexus report DIR...`: read run directories (config.toml + metrics.jsonl), group them by the config keys in
// which they differ, aggregate over seeds and write report.md, report.html and the data for the plots.
//
// Statistics (per group, over its runs r = 1..n, one per seed):
//   final  = the metric's last reported value (the last round/step/iteration where it is not null);
//   best   = max over rounds (min for losses and regret), with the round where it was reached;
//   mean ± std with the sample standard deviation sqrt(Σ (v_r − mean)² / (n − 1)) (0 when n = 1).
// Curves: at each round, mean ± std over the runs that report the metric at that round.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace plexus::exp {

/// One run directory's config (flattened to "section.key" → TOML text of the value) and metric rows.
struct RunRecord {
  std::filesystem::path dir;
  std::map<std::string, std::string> config;
  std::vector<nlohmann::json> rows;
  std::string index;  ///< the index column: "round", "step" or "iteration" (else the first key)
  std::string seed;   ///< run.seed as text
};

/// Run directories under `roots` (each a run directory or a folder searched recursively; folders named
/// `discarded` are skipped), sorted by path. Throws: Error(Io) if a root does not exist, Error(Data) if no
/// run directory (config.toml + metrics.jsonl) is found.
std::vector<std::filesystem::path> find_runs(const std::vector<std::filesystem::path>& roots);

/// Load one run directory. Throws: Error(Io|Data) naming the file.
RunRecord load_run(const std::filesystem::path& dir);

struct Stat {
  double mean = 0, std = 0;
  int n = 0;
};
/// Mean and sample standard deviation (n − 1; 0 for n = 1) of the finite values of `v`.
Stat mean_std(const std::vector<double>& v);

/// How one metric is summarized: `better` = +1 (higher is better), −1 (lower), 0 (no best column).
struct MetricSpec {
  std::string key, label;
  int better = 0;
};

/// One plot: `metric` against `x` (a column of the rows), one line with a mean ± std band per group.
struct PlotSpec {
  std::string name, metric, x, title, ylabel;
};

/// The table columns and plots for runs whose first column is `index` (round → FL, step → LLM, iteration →
/// tuners). Only metrics present in the runs are used.
std::vector<MetricSpec> table_metrics(const std::string& index);
std::vector<PlotSpec> plot_specs(const std::string& index);

struct MetricSummary {
  Stat final, best, best_at;  ///< best/best_at are empty (n = 0) when the metric has no direction
};

struct Curve {
  std::vector<double> x, mean, std;
  std::vector<int> n;
};

/// Runs sharing every compared config key (all runs of the group differ only in excluded keys such as
/// run.seed, run.name or run.device).
struct Group {
  std::string label;                                        ///< "algorithm=dfedsam, rho=0.05" or "all runs"
  std::vector<std::pair<std::string, std::string>> values;  ///< (key, value) for each differing key
  std::vector<const RunRecord*> runs;
  std::vector<std::string> seeds;
};

/// Config keys whose values are not the same in every run, except keys that only say where or how a run
/// executes (run.name, run.out_dir, run.root, run.seed, run.device, run.threads, run.tensorboard, run.progress,
/// run.checkpoint_every, run.keep_checkpoints). A key absent from some runs counts as differing.
std::vector<std::string> differing_keys(const std::vector<RunRecord>& runs);

/// Group `runs` by their values of `keys`, in order of first appearance.
std::vector<Group> group_runs(const std::vector<RunRecord>& runs, const std::vector<std::string>& keys);

/// Final and best statistics of `metric` over a group's runs (see the file comment).
MetricSummary summarize(const Group& g, const std::string& index, const MetricSpec& metric);

/// The group's mean ± std curve of `metric` against `x`, aligned on the index column (x is averaged).
Curve curve(const Group& g, const std::string& index, const std::string& metric, const std::string& x);

struct ReportFiles {
  std::filesystem::path markdown, html, data;
  std::vector<std::filesystem::path> plots;  ///< plots/<name>.png and .svg the plot script is asked for
};

/// Write report.md, report.html and report_data.json (the curves the plot script draws) into `out`. Runs are
/// grouped by differing_keys, or by `group_by` when it is not empty (shorter labels when some differing keys
/// follow from others, e.g. settings that come with an algorithm's config file).
/// With `with_plots` false no plots/ folder is made and the documents link no images (--no-plots).
/// Throws: Error(Io|Data); Error(Config) if a differing key outside `group_by` varies inside a group.
ReportFiles write_report(const std::vector<RunRecord>& runs, const std::filesystem::path& out,
                         const std::vector<std::string>& group_by = {}, bool with_plots = true);

/// "0.7123 ± 0.0040" (4 significant decimals; large or tiny values in %g).
std::string format_stat(const Stat& s);

}  // namespace plexus::exp
