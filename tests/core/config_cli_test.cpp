// The config layer seen from the command line: docs/config.md agrees with the declarations, and a misspelled
// key in EVERY section of EVERY family (through every command that takes --config, and in every file under
// configs/) ends in one `error:` line naming the key, exit 2 (issue 12 item 1; issue 9 item 4).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include "../cli_util.h"

using plexus::test::run_plexus;
namespace fs = std::filesystem;

namespace {

const std::string kSource = PLEXUS_SOURCE_DIR;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// family → section → its first declared key, from `plexus config keys` (the declarations themselves).
std::map<std::string, std::map<std::string, std::string>> declared_sections() {
  auto r = run_plexus("config keys");
  EXPECT_EQ(r.code, 0) << r.out;
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& l : lines_of(r.out)) {
    std::istringstream in(l);
    std::string family, section, key;
    in >> family >> section >> key;
    if (!out[family].count(section)) out[family][section] = key;
  }
  return out;
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The family of a config file: tuning configs have a [tuner] table, LLM pretraining configs a [tokenizer]
// table, the R1 pipeline's configs (llm grpo / sft / distill) a [grpo] or [sft] table.
std::string family_of(const fs::path& p) {
  const std::string text = "\n" + text_of(p);
  if (text.find("\n[tuner]") != std::string::npos) return "tune";
  if (text.find("\n[tokenizer]") != std::string::npos) return "llm";
  if (text.find("\n[grpo]") != std::string::npos || text.find("\n[sft]") != std::string::npos) return "r1";
  return "fl";
}

// The top-level tables a file holds ([data.tasks.x] counts as [data]).
std::set<std::string> tables_in(const fs::path& p) {
  std::set<std::string> out;
  for (const auto& l : lines_of(text_of(p))) {
    if (l.size() < 3 || l[0] != '[' || l[1] == '[') continue;
    auto name = l.substr(1, l.find(']') - 1);
    out.insert(name.substr(0, name.find('.')));
  }
  return out;
}

// A misspelling of `key` that is no declared key: its last letter doubled ("lr" → "lrr").
std::string typo(const std::string& key) { return key + key.back(); }

struct Case {
  std::string command;  // e.g. "fl run -c configs/quickstart.toml"
  std::string section, bad_key;
};

void expect_one_error_line(const Case& c) {
  const std::string args = c.command + " --set " + c.section + "." + c.bad_key + "=1";
  auto r = run_plexus(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
  auto ls = lines_of(r.out);
  ASSERT_EQ(ls.size(), 1u) << args << "\n" << r.out;
  const std::string want = "error: config: [" + c.section + "] unknown key '" + c.bad_key + "'";
  EXPECT_EQ(ls[0].rfind(want, 0), 0u) << args << "\n" << r.out;
}

}  // namespace

TEST(ConfigDocs, DocsConfigMdMatchesTheDeclarations) {
  auto r = run_plexus("config docs --check " + kSource + "/docs/config.md");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(ConfigDocs, CheckFailsWhenTheDocDisagrees) {
  std::ifstream in(kSource + "/docs/config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  // Change one documented default: the check must notice.
  const std::string row = "| `lr_decay` | float | `0.998` |";
  auto pos = doc.find(row);
  ASSERT_NE(pos, std::string::npos) << "docs/config.md lacks the [train] lr_decay row";
  doc.replace(pos, row.size(), "| `lr_decay` | float | `0.99` |");
  auto tmp = fs::temp_directory_path() / ("plexus_config_md_" + std::to_string(::getpid()) + ".md");
  std::ofstream(tmp) << doc;
  auto r = run_plexus("config docs --check " + tmp.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("block 'fl.train' differs"), std::string::npos) << r.out;
  // --write repairs it, keeping the prose.
  auto w = run_plexus("config docs --write " + tmp.string());
  EXPECT_EQ(w.code, 0) << w.out;
  EXPECT_EQ(run_plexus("config docs --check " + tmp.string()).code, 0);
  fs::remove(tmp);
}

// Every section of every family through every command that takes --config (each with one config of its
// family), and every config file under configs/ with a misspelling in one of the tables it holds. The
// unknown-key check is per section, not per file, so the full product (every section × every file, ~380
// processes, 6 minutes) would test the same code again; each file still goes through its own command.
TEST(ConfigSweep, MisspelledKeyInEverySectionOfEveryConfigIsOneErrorLine) {
  auto sections = declared_sections();
  ASSERT_TRUE(sections.count("fl") && sections.count("llm") && sections.count("tune"));
  // [tuner] is parsed by the tuner options (not in the generic declarations yet): sweep it too.
  if (!sections["tune"].count("tuner")) sections["tune"]["tuner"] = "iterations";
  sections["llm"].erase("generate");  // flags of `llm generate`, not a config table

  std::vector<Case> cases;
  std::map<std::string, int> files_per_family;
  int k = 0;  // rotates the table each file is tested in
  for (const auto& e : fs::directory_iterator(kSource + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    const std::string family = family_of(e.path());
    ++files_per_family[family];
    const std::string file = e.path().string();
    const auto tables = tables_in(e.path());
    ASSERT_FALSE(tables.empty()) << file;
    std::string cmd = family == "fl" ? "fl run -c " : family == "llm" ? "llm pretrain -c " : "tune run -c ";
    if (family == "r1") {
      // The R1 pipeline's tables are parsed by its own options (llm/grpo, sft): every table the file holds.
      cmd = tables.count("grpo") ? "llm grpo -c " : tables.count("teacher") ? "llm distill -c " : "llm sft -c ";
      for (const auto& t : tables) cases.push_back({cmd + file, t, "not_a_key_anywhere"});
      continue;
    }
    auto t = tables.begin();
    std::advance(t, k++ % tables.size());
    cases.push_back({cmd + file, *t, "not_a_key_anywhere"});
  }
  EXPECT_GE(files_per_family["fl"], 10);
  EXPECT_GE(files_per_family["llm"], 3);
  EXPECT_GE(files_per_family["tune"], 4);
  // Every declared section of each family through every command that takes its --config.
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"fl", "fl run -c " + kSource + "/configs/quickstart.toml"},
      {"fl", "data partition -c " + kSource + "/configs/quickstart.toml"},
      {"fl", "data info -c " + kSource + "/configs/quickstart.toml"},
      {"llm", "llm pretrain -c " + kSource + "/configs/dsv3_tiny.toml"},
      {"llm", "llm tokenizer -c " + kSource + "/configs/dsv3_tiny.toml --out /nonexistent/x"},
      {"tune", "tune run -c " + kSource + "/configs/amis_auction.toml"},
      {"tune", "tune generate -c " + kSource + "/configs/amis_auction.toml --out /nonexistent/x"},
  };
  for (const auto& [family, cmd] : commands) {
    for (const auto& [section, key] : sections[family]) cases.push_back({cmd, section, typo(key)});
  }
  for (const auto& c : cases) expect_one_error_line(c);
  std::set<std::string> seen;
  for (const auto& c : cases) seen.insert(c.section);
  for (const char* s : {"run", "data", "model", "fl", "topology", "train", "privacy", "personalization", "tokenizer",
                        "market", "auction", "landscape", "objective", "tuner"}) {
    EXPECT_TRUE(seen.count(s)) << s;
  }
}

TEST(ConfigCli, DirectoryOrEmptyConfigIsAnError) {
  auto dir = fs::temp_directory_path() / ("plexus_cfg_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "empty.toml") << "";
  for (const std::string cmd : {"fl run -c ", "tune run -c ", "llm pretrain -c "}) {
    auto r = run_plexus(cmd + dir.string());
    EXPECT_EQ(r.code, 2) << cmd << r.out;
    EXPECT_NE(r.out.find("is a directory"), std::string::npos) << r.out;
    auto e = run_plexus(cmd + (dir / "empty.toml").string());
    EXPECT_EQ(e.code, 2) << cmd << e.out;
    EXPECT_NE(e.out.find("is empty"), std::string::npos) << e.out;
  }
  fs::remove_all(dir);
}

TEST(ConfigCli, SetValueWithNewlineAndTableHeaderIsRejected) {
  // The shell's printf puts real newlines into the one --set argument.
  auto r = run_plexus("fl run -c " + kSource + "/configs/quickstart.toml --set \"$(printf 'fl.rounds=1\\n[evil]\\nx=1')\"");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("spans several lines"), std::string::npos) << r.out;
}

TEST(ConfigCli, ExtremeValuesGiveTheAllowedRange) {
  const std::string fl = "fl run -c " + kSource + "/configs/dp_fedsam.toml --set ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.lr=1e300", "[train] lr = 1e+300: must be in (0, 100]"},
      {"privacy.clip_norm=1e300", "[privacy] clip_norm = 1e+300: must be in (0, 1e6]"},
      {"privacy.noise_multiplier=1e300", "[privacy] noise_multiplier = 1e+300: must be in (0, 1000]"},
      {"privacy.noise_multiplier=0", "[privacy] noise_multiplier = 0.0: must be in (0, 1000]"},
      {"train.lr=inf", "[train] lr = inf: must be finite and in (0, 100]"},
      {"data.local_test_size=1e8", "[data] local_test_size = 100000000: must be in [0, 1000000]"},
      {"run.threads=100000", "[run] threads = 100000: must be in [0, 256]"},
      {"fl.rounds=9223372036854775807", "[fl] rounds = 9223372036854775807: must be in [1, 10000000]"},
  };
  for (const auto& [set, want] : cases) {
    auto r = run_plexus(fl + set);
    EXPECT_EQ(r.code, 2) << set << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("error: config: " + want, 0), 0u) << set << "\n" << r.out;
  }
  const std::string pfl = "fl run -c " + kSource + "/configs/dfedalt.toml --set ";
  for (const std::string key : {"personalization.lr_head", "personalization.lr_body"}) {
    auto r = run_plexus(pfl + key + "=inf");
    EXPECT_EQ(r.code, 2) << key << r.out;
    EXPECT_NE(r.out.find("must be finite and in (0, 100]"), std::string::npos) << r.out;
  }
  auto d = run_plexus(pfl + "fl.algorithm=ditto --set personalization.ditto_lambda=inf");
  EXPECT_EQ(d.code, 2) << d.out;
  EXPECT_NE(d.out.find("ditto_lambda = inf: must be finite"), std::string::npos) << d.out;
}

TEST(ConfigCli, RunNameIsAStringAndBounded) {
  const std::string fl = "fl run -c " + kSource + "/configs/quickstart.toml --set ";
  // A date-like name is taken as text: the run gets past the config (it fails later only on the typo we add).
  auto r = run_plexus(fl + "run.name=2024-12-01 --set train.nope=1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("[train] unknown key 'nope'"), std::string::npos) << r.out;
  auto long_name = run_plexus(fl + "run.name=" + std::string(300, 'n'));
  EXPECT_EQ(long_name.code, 2) << long_name.out;
  EXPECT_NE(long_name.out.find("is 300 bytes"), std::string::npos) << long_name.out;
  EXPECT_LT(long_name.out.size(), 400u);  // the 300-byte value is clipped in the message
}

TEST(ConfigCli, VersionAndShortConfigFlag) {
  auto v = run_plexus("--version");
  EXPECT_EQ(v.code, 0) << v.out;
  EXPECT_EQ(v.out.rfind("plexus 0.1.0 (LibTorch ", 0), 0u) << v.out;
  // -c is accepted wherever --config is (the typo proves the file was read).
  for (const std::string cmd : {"fl run", "llm pretrain", "llm tokenizer", "tune run", "tune generate --out x",
                                "data partition", "data info"}) {
    const std::string file = cmd.rfind("llm", 0) == 0    ? "/configs/dsv3_tiny.toml"
                             : cmd.rfind("tune", 0) == 0 ? "/configs/amis_auction.toml"
                                                         : "/configs/quickstart.toml";
    auto r = run_plexus(cmd + " -c " + kSource + file + " --set run.nmae=1");
    EXPECT_EQ(r.code, 2) << cmd << r.out;
    EXPECT_NE(r.out.find("[run] unknown key 'nmae' (did you mean 'name'?)"), std::string::npos) << cmd << r.out;
  }
}

TEST(ConfigCli, TopologyTorusWithTooFewClientsSaysSo) {
  auto r = run_plexus("fl topology --kind torus --clients 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.find("prime"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 is below 4"), std::string::npos) << r.out;
  auto p = run_plexus("fl topology --kind torus --clients 7");
  EXPECT_NE(p.out.find("7 is prime"), std::string::npos) << p.out;
  // A million clients was an internal allocation error (8 TB dense matrix): a bound with the reason now.
  auto big = run_plexus("fl topology --kind ring --clients 1000000");
  EXPECT_EQ(big.code, 2) << big.out;
  EXPECT_NE(big.out.find("must be <= 5000"), std::string::npos) << big.out;
}

TEST(ConfigCli, DataPartitionHonoursTheConfigsClientCount) {
  auto dir = fs::temp_directory_path() / ("plexus_part_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "c.toml") << "[data]\ndataset = \"synthetic\"\n[fl]\nclients = 7\n[run]\nseed = 3\n";
  auto r = run_plexus("data partition -c " + (dir / "c.toml").string() + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"clients\": 7"), std::string::npos) << r.out.substr(0, 400);
  EXPECT_NE(r.out.find("\"seed\": 3"), std::string::npos);
  auto f = run_plexus("data partition -c " + (dir / "c.toml").string() + " --clients 5 --json");
  ASSERT_EQ(f.code, 0) << f.out;
  EXPECT_NE(f.out.find("\"clients\": 5"), std::string::npos);  // the flag wins over the file
  fs::remove_all(dir);
}

// A command-line mistake (a missing required option, an unknown flag) is a usage error like a config one:
// one `error: usage:` line and exit 2, not the parser library's own codes (106, 109, ...).
TEST(CommandLine, MissingOptionAndUnknownFlagAreOneUsageErrorLineWithExit2) {
  for (const char* args : {"fl run", "fl run --config x.toml --no-such-flag", "report"}) {
    auto r = run_plexus(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("error: usage: ", 0), 0u) << args << "\n" << r.out;
  }
  EXPECT_EQ(run_plexus("--help").code, 0);
}
