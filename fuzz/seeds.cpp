// The seed_* files of fuzz/corpus/, written with plexus's own writers (`fuzz_replay --write-seeds fuzz/corpus`):
// for each target a few valid inputs and slightly broken ones. Files named regression_* are inputs found by
// fuzzing and are never rewritten here.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_support.h"
#include "plexus/core/checkpoint.h"
#include "plexus/data/idx_reader.h"
#include "plexus/tune/exploration_io.h"
#include "plexus/tune/log_io.h"
#include "plexus/tune/marketplace.h"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

// A fuzz/checkpoint.cpp input: the selector byte, then the bytes.
std::string selected(char selector, std::string_view rest) {
  std::string out(1, selector);
  out.append(rest);
  return out;
}

void checkpoint_seeds(const fs::path& dir) {
  Checkpoint ck;
  ck.tensors["X"] = torch::arange(6, torch::kFloat32).reshape({2, 3});  // [N=2, P=3]
  ck.tensors["momentum"] = torch::zeros({2, 3});
  ck.tensors["push_weights"] = torch::tensor({0.5, 0.5}, torch::kFloat64);
  ck.meta = {{"round", 1}, {"rng", {{"seed", 0}, {"draws", 12}}}, {"ledger", {{"steps", 4}, {"q", 0.2}}}};
  const auto tmp = fuzz::scratch_dir() / "seed.pt";
  save_checkpoint(tmp, ck);
  const std::string file = slurp(tmp), archive = file.substr(32);  // 32-byte format-2 header
  put(dir, "seed_valid_archive_wrapped", selected(1, archive));
  put(dir, "seed_valid_file", selected(0, file));
  put(dir, "seed_format1_bare_archive", selected(0, archive));
  put(dir, "seed_truncated_file", selected(0, std::string_view(file).substr(0, file.size() / 2)));
  std::string flipped = file;
  flipped[flipped.size() / 2] ^= 0x10;
  put(dir, "seed_bit_flipped_file", selected(0, flipped));
}

void idx_seeds(const fs::path& dir) {
  std::vector<uint8_t> pixels(18), labels = {3, 1, 4, 1, 5};
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(14 * i);
  const auto tmp = fuzz::scratch_dir() / "seed.idx";
  data::write_idx(tmp, {2, 3, 3}, pixels, false);
  const std::string images = slurp(tmp);
  put(dir, "seed_images_plain", images);
  put(dir, "seed_images_truncated", images.substr(0, images.size() - 3));
  put(dir, "seed_images_trailing_byte", images + "x");
  data::write_idx(tmp, {2, 3, 3}, pixels, true);
  const std::string gz = slurp(tmp);
  put(dir, "seed_images_gzip", gz);
  put(dir, "seed_images_gzip_truncated", gz.substr(0, gz.size() - 6));  // cuts the gzip trailer (CRC, size)
  data::write_idx(tmp, {5}, labels, true);
  put(dir, "seed_labels_gzip", slurp(tmp));
  data::write_idx(tmp, {5}, labels, false);
  std::string int32 = slurp(tmp);
  int32[2] = 0x0C;  // element type int32: unsupported
  put(dir, "seed_labels_int32_type", int32);
}

void auction_log_seeds(const fs::path& dir) {
  tune::MarketOptions m;
  m.requests = 3;
  m.segments = 2;
  m.advertisers = 4;
  m.ads_per_request = 2.0;
  m.max_ads = 3;
  m.position_effects = {1.0, 0.5};
  const auto tmp = fuzz::scratch_dir() / "seed.plxcol";
  tune::save_auction_log(tune::generate_market(m), tmp);
  const std::string log = slurp(tmp);
  put(dir, "seed_auction_log", log);
  put(dir, "seed_auction_log_truncated", log.substr(0, log.size() - 5));

  tune::ExplorationLog e;
  e.params = {"alpha", "reserve"};
  e.theta0 = {1.0, 0.05};
  e.sd = {0.1, 0.01};
  e.samples.dim = 2;
  e.samples.kpi_names = {"clicks", "revenue"};
  e.samples.theta = {1.1, 0.04, 0.9, 0.06};
  e.samples.log_q = {-1.5, -2.0};
  e.samples.kpi = {0.2, 0.1, 0.3, 0.2};
  tune::save_exploration(e, tmp);
  put(dir, "seed_exploration_log", slurp(tmp));
}

// Selector byte: key "step" if bit 0, first row (bit 1), done = byte >> 2 (fuzz/metrics_history.cpp).
char selector(bool step, int first, int done) { return static_cast<char>((done << 2) | (first << 1) | (step ? 1 : 0)); }

void metrics_history_seeds(const fs::path& dir) {
  const std::string rows = "{\"round\":1,\"loss\":2.3,\"acc\":0.1}\n"
                           "{\"round\":2,\"loss\":1.9,\"acc\":0.3}\n"
                           "{\"round\":3,\"loss\":1.2,\"acc\":0.6}\n";
  put(dir, "seed_rounds_resume_at_2", selector(false, 1, 2) + rows);
  put(dir, "seed_rounds_torn_last_line", selector(false, 1, 3) + rows + "{\"round\":4,\"lo");
  put(dir, "seed_rounds_bad_middle_line", selector(false, 1, 3) + "{\"round\":1}\nnot json\n{\"round\":3}\n");
  put(dir, "seed_rounds_gap", selector(false, 1, 3) + "{\"round\":1}\n{\"round\":3}\n{\"round\":4}\n");
  put(dir, "seed_steps_from_zero", selector(true, 0, 2) + "{\"step\":0,\"reward\":0.1}\n{\"step\":1,\"reward\":0.2}\n"
                                                          "{\"step\":2,\"reward\":0.4}\n\n");
  put(dir, "seed_empty_history", std::string(1, selector(false, 1, 0)));
}

void config_seeds(const fs::path& dir) {
  const std::string landscape = "[run]\nname = \"tune_bumps\"\nproblem = \"landscape\"\nseed = 1\n\n"
                                "[landscape]\nkind = \"bumps\"\ndim = 2\nmodes = 4\nwidth = 0.12\nnoise = 0.5\n"
                                "production = 0.2\n\n[tuner]\nmethod = \"amis\"\niterations = 20\ntraffic = 500\n\n"
                                "[amis]\nvariant = \"multi_modal\"\nupdate = \"pcu\"\n\n[objective]\nmetric = \"f\"\n";
  put(dir, "seed_landscape_amis", landscape);
  put(dir, "seed_landscape_with_sets", landscape + "#%set\ntuner.method=gis\nrun.name=2024-12-01\nlandscape.noise=0.25\n"
                                                   "gis.unknown=1\n");
  put(dir, "seed_auction_sgis", "[run]\nname = \"auction\"\n[market]\nrequests = 2000\nsegments = 4\n"
                                "position_effects = [1.0, 0.6, 0.25]\n[tuner]\nmethod = \"sgis\"\n"
                                "[objective]\nmetric = \"revenue\"\n");
  put(dir, "seed_sets_only", "#%set\ntuner.method=cem\nrun.name=\"x y\"\nmarket.requests=-5\nmarkt.segments=2\n");
  put(dir, "seed_syntax_error", "[run]\nname = \"unterminated\n[tuner]\nmethod = grid\n");
  put(dir, "seed_unknown_key", "[tuner]\nmethod = \"random\"\nitertions = 3\n[run]\nprogress = false\n");
}

}  // namespace

void write_seeds(const fs::path& root) {
  checkpoint_seeds(root / "checkpoint");
  idx_seeds(root / "idx");
  auction_log_seeds(root / "auction_log");
  metrics_history_seeds(root / "metrics_history");
  config_seeds(root / "config");
}
