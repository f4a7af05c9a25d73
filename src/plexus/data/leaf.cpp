#include "plexus/data/leaf.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "plexus/core/error.h"

namespace plexus::data {

namespace fs = std::filesystem;

namespace {

// Samples of one split, grouped by user (a user may span several files; its samples are appended).
struct Split {
  std::map<std::string, std::vector<int64_t>> by_user;  // user → indices into x/y
  std::vector<float> x;                                 // n·d values
  std::vector<int64_t> y;
  int64_t d = -1;
  fs::path first_file;  // where d was first seen (for messages)
};

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void read_file(const fs::path& file, Split& s) {
  const std::string f = file.string();
  nlohmann::json j;
  {
    std::ifstream in(file);
    if (!in) throw Error::io("{}: cannot open for reading", f);
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error::data("{}: not valid JSON ({})", f, e.what());
    }
  }
  for (const char* key : {"users", "num_samples", "user_data"}) {
    if (!j.is_object() || !j.contains(key)) throw Error::data("{}: no \"{}\" key; not a LEAF data file", f, key);
  }
  const auto& users = j["users"];
  const auto& counts = j["num_samples"];
  const auto& data = j["user_data"];
  if (!users.is_array() || !counts.is_array() || users.size() != counts.size()) {
    throw Error::data("{}: \"users\" and \"num_samples\" must be arrays of one length", f);
  }
  for (size_t u = 0; u < users.size(); ++u) {
    if (!users[u].is_string()) throw Error::data("{}: users[{}] is not a string", f, u);
    const std::string user = users[u].get<std::string>();
    if (!data.contains(user)) throw Error::data("{}: user '{}' has no entry in \"user_data\"", f, user);
    const auto& ud = data[user];
    if (!ud.contains("x") || !ud.contains("y") || !ud["x"].is_array() || !ud["y"].is_array()) {
      throw Error::data("{}: user '{}' needs arrays \"x\" and \"y\"", f, user);
    }
    const auto& xs = ud["x"];
    const auto& ys = ud["y"];
    const int64_t n = counts[u].is_number_integer() ? counts[u].get<int64_t>() : -1;
    if (n < 0 || static_cast<int64_t>(xs.size()) != n || static_cast<int64_t>(ys.size()) != n) {
      throw Error::data("{}: user '{}' has num_samples {} but {} x rows and {} labels", f, user, counts[u].dump(),
                        xs.size(), ys.size());
    }
    auto& idx = s.by_user[user];
    for (int64_t k = 0; k < n; ++k) {
      const auto& row = xs[static_cast<size_t>(k)];
      if (row.is_string() || (row.is_array() && !row.empty() && row[0].is_string())) {
        throw Error::data("{}: user '{}' has text features (a Shakespeare/Sent140-style task); plexus reads LEAF "
                          "tasks with numeric features such as FEMNIST",
                          f, user);
      }
      if (!row.is_array()) throw Error::data("{}: user '{}' sample {}: x is not an array of numbers", f, user, k);
      if (s.d < 0) s.d = static_cast<int64_t>(row.size()), s.first_file = file;
      if (static_cast<int64_t>(row.size()) != s.d) {
        throw Error::data("{}: user '{}' sample {} has {} features but {} has rows of {}; every x row must have the "
                          "same length",
                          f, user, k, row.size(), s.first_file.string(), s.d);
      }
      for (const auto& v : row) {
        if (!v.is_number()) throw Error::data("{}: user '{}' sample {}: a feature is not a number", f, user, k);
        s.x.push_back(v.get<float>());
      }
      const auto& yv = ys[static_cast<size_t>(k)];
      if (!yv.is_number_integer() || yv.get<int64_t>() < 0) {
        throw Error::data("{}: user '{}' sample {}: label {} is not an integer >= 0", f, user, k, yv.dump());
      }
      idx.push_back(static_cast<int64_t>(s.y.size()));
      s.y.push_back(yv.get<int64_t>());
    }
  }
}

Dataset to_dataset(Split& s, int64_t d, int64_t classes, const std::string& name) {
  const int64_t n = static_cast<int64_t>(s.y.size());
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(d))));
  Dataset out;
  auto x = torch::from_blob(s.x.data(), {n, d}, torch::kFloat).clone();
  out.x = side * side == d ? x.view({n, 1, side, side}) : x.view({n, 1, 1, d});
  out.y = torch::tensor(s.y, torch::kLong);
  out.num_classes = classes;
  out.name = name;
  std::vector<float>().swap(s.x);
  return out;
}

}  // namespace

TrainTest load_leaf(const std::string& dir_in) {
  std::string source;
  const fs::path dir = resolve_data_path(dir_in, kLeafEnv, kLeafDefaultDir, &source);
  std::error_code ec;
  const fs::path train_dir = dir / "train", test_dir = dir / "test";
  std::vector<fs::path> train_files, test_files;
  if (fs::is_directory(train_dir, ec) && fs::is_directory(test_dir, ec)) {
    train_files = json_files(train_dir);
    test_files = json_files(test_dir);
  }
  if (train_files.empty() || test_files.empty()) {
    throw Error::data("LEAF data not found: {} ({}) needs train/*.json and test/*.json; build them with LEAF's "
                      "preprocess.sh (https://github.com/TalwalkarLab/leaf, e.g. femnist: ./preprocess.sh -s niid "
                      "--sf 0.05 -k 0 -t sample) and point [data] path (--path) or ${} at data/femnist/data",
                      dir.string(), source, kLeafEnv);
  }
  Split tr, te;
  for (const auto& f : train_files) read_file(f, tr);
  for (const auto& f : test_files) read_file(f, te);
  if (tr.y.empty()) throw Error::data("{}: the training files hold no samples", train_dir.string());
  if (!te.y.empty() && te.d != tr.d) {
    throw Error::data("{} has rows of {} features but {} has {}", te.first_file.string(), te.d,
                      tr.first_file.string(), tr.d);
  }
  int64_t top = 0;
  for (auto v : tr.y) top = std::max(top, v);
  for (auto v : te.y) top = std::max(top, v);
  TrainTest tt;
  for (const auto& [user, idx] : tr.by_user) tt.users.push_back(user);  // std::map: sorted by id
  for (const auto& user : tt.users) {
    tt.train_users.push_back(tr.by_user[user]);
    auto it = te.by_user.find(user);
    tt.test_users.push_back(it == te.by_user.end() ? std::vector<int64_t>{} : it->second);
  }
  const int64_t d = tr.d;
  tt.train = to_dataset(tr, d, top + 1, "leaf/train");
  if (te.y.empty()) throw Error::data("{}: the test files hold no samples", test_dir.string());
  tt.test = to_dataset(te, d, top + 1, "leaf/test");
  return tt;
}

}  // namespace plexus::data
