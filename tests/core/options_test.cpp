// The declare-once options mechanism (core/options.h): one declaration drives parsing, range and choice
// checks, the unknown-key check, the resolved config and the docs table. Expected texts are written by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "plexus/core/config.h"
#include "plexus/core/options.h"
#include "plexus/core/run_options.h"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

struct Opts {
  int64_t steps = 10;
  double lr = 0.3;
  double decay = 1e-4;
  bool sam = false;
  std::string mixing = "metropolis";
  std::vector<int64_t> hidden = {200, 200};

  static const OptionSchema<Opts>& schema() {
    static const auto s = OptionSchema<Opts>("train")
                              .key("steps", &Opts::steps, "K local steps", "[1, 1000]")
                              .key("lr", &Opts::lr, "learning rate", "(0, 10]")
                              .key("decay", &Opts::decay, "weight decay", ">= 0")
                              .key("sam", &Opts::sam, "use SAM")
                              .key("mixing", &Opts::mixing, "mixing weights", one_of({"metropolis", "uniform"}))
                              .key("hidden", &Opts::hidden, "hidden sizes", ">= 1");
    return s;
  }
};

struct Extended : RunOptions {
  int64_t keep = 2;
  static const OptionSchema<Extended>& schema() {
    static const auto s = OptionSchema<Extended>("run")
                              .include_base(RunOptions::schema())
                              .key("keep", &Extended::keep, "checkpoints kept", ">= 1");
    return s;
  }
};

Opts parse_train(const std::string& text, toml::table* resolved = nullptr) {
  auto root = parse_toml(text);
  ConfigTable t(section_table(root, "train"), "train");
  auto o = Opts::schema().parse(t);
  if (resolved) *resolved = t.resolved();
  return o;
}

std::string error_of(const std::function<void()>& f, ErrorKind kind = ErrorKind::Config) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(Allowed, IntervalsAndHalfLines) {
  Allowed a("(0, 1]");
  EXPECT_FALSE(a.contains(0));
  EXPECT_TRUE(a.contains(1e-300));
  EXPECT_TRUE(a.contains(1));
  EXPECT_FALSE(a.contains(1.0000001));
  Allowed b("[0, 1)");
  EXPECT_TRUE(b.contains(0));
  EXPECT_FALSE(b.contains(1));
  EXPECT_TRUE(Allowed(">= 1").contains(1));
  EXPECT_FALSE(Allowed("> 0").contains(0));
  EXPECT_FALSE(Allowed("< 5").contains(5));
  EXPECT_TRUE(Allowed("<= 5").contains(5));
  EXPECT_EQ(Allowed("(0, 1]").requirement(), "must be in (0, 1]");
  EXPECT_EQ(Allowed(">= 1").requirement(), "must be >= 1");
  EXPECT_THROW(Allowed("0..1"), Error);  // a malformed declaration is a bug (Internal)
}

TEST(OptionSchema, DefaultsComeFromTheStructAndResolvedListsEveryKey) {
  toml::table r;
  auto o = parse_train("[other]\n", &r);
  EXPECT_EQ(o.steps, 10);
  EXPECT_EQ(o.mixing, "metropolis");
  EXPECT_EQ(r.size(), 6u);
  EXPECT_EQ(r["lr"].value<double>(), 0.3);
}

TEST(OptionSchema, ResolvedFloatsPrintAsWritten) {
  toml::table r;
  parse_train("[train]\nlr = 0.1\n", &r);
  toml::table root;
  root.insert("train", r);
  // Hand-written: shortest round-trip floats (0.1, not 0.10000000000000001); keys sorted (a TOML table).
  EXPECT_EQ(to_toml_string(root),
            "[train]\ndecay = 0.0001\nhidden = [200, 200]\nlr = 0.1\nmixing = \"metropolis\"\nsam = false\nsteps = 10\n");
  auto back = parse_toml(to_toml_string(root));
  EXPECT_EQ(back["train"]["lr"].value<double>(), 0.1);  // reads back to the same double
  EXPECT_EQ(toml_literal(0.3), "0.3");
  EXPECT_EQ(toml_literal(2.0), "2.0");  // still a TOML float
  EXPECT_EQ(toml_literal(1e300), "1e+300");
  EXPECT_EQ(toml_literal(std::string("a\"b\n")), "\"a\\\"b\\n\"");
}

TEST(OptionSchema, UnknownKeySuggestsTheDeclaredOne) {
  auto msg = error_of([] { parse_train("[train]\nlrr = 0.1\n"); });
  EXPECT_EQ(msg, "[train] unknown key 'lrr' (did you mean 'lr'?)");
}

TEST(OptionSchema, RangeErrorsGiveTheAllowedRangeAndTheFix) {
  EXPECT_EQ(error_of([] { parse_train("[train]\nlr = 1e300\n"); }),
            "[train] lr = 1e+300: must be in (0, 10] (set train.lr)");
  EXPECT_EQ(error_of([] { parse_train("[train]\nsteps = 0\n"); }),
            "[train] steps = 0: must be in [1, 1000] (set train.steps)");
  EXPECT_EQ(error_of([] { parse_train("[train]\nhidden = [4, 0]\n"); }),
            "[train] hidden = [4, 0]: must be >= 1 (set train.hidden)");
}

TEST(OptionSchema, NonFiniteFloatsAreRejectedEvenWithoutARange) {
  EXPECT_TRUE(has(error_of([] { parse_train("[train]\nlr = nan\n"); }), "must be finite and in (0, 10]"));
  EXPECT_TRUE(has(error_of([] { parse_train("[train]\ndecay = inf\n"); }), "must be finite"));
}

TEST(OptionSchema, TypeAndChoiceErrorsNameTheKey) {
  EXPECT_TRUE(has(error_of([] { parse_train("[train]\nsteps = \"ten\"\n"); }), "steps must be an integer"));
  EXPECT_TRUE(has(error_of([] { parse_train("[train]\nsteps = 1e300\n"); }), "steps"));
  auto msg = error_of([] { parse_train("[train]\nmixing = \"unifrom\"\n"); });
  EXPECT_TRUE(has(msg, "is not one of: metropolis, uniform")) << msg;
  EXPECT_TRUE(has(msg, "did you mean \"uniform\"")) << msg;
}

TEST(OptionSchema, AnEmptyOrUnrelatedChoiceListsTheValuesWithoutAGuess) {
  // "" and "x" are 2 edits from "on" (every character replaced), not misspellings of it: no "did you mean".
  EXPECT_EQ(nearest_name("", {"auto", "on", "off"}), "");
  EXPECT_EQ(nearest_name("x", {"auto", "on", "off"}), "");
  EXPECT_EQ(nearest_name("of", {"auto", "on", "off"}), "on");  // one edit, one character kept: still a suggestion
  EXPECT_EQ(nearest_name("lrr", {"lr", "steps"}), "lr");
  auto msg = error_of([] { parse_train("[train]\nmixing = \"\"\n"); });
  EXPECT_EQ(msg, "[train] mixing = \"\" is not one of: metropolis, uniform (set train.mixing)");
}

TEST(OptionSchema, IncludeBaseDeclaresTheSharedRunKeys) {
  auto root = parse_toml("[run]\nname = \"x\"\nkeep = 3\nthreads = 4\n");
  ConfigTable t(section_table(root, "run"), "run");
  auto o = Extended::schema().parse(t);
  EXPECT_EQ(o.name, "x");
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.keep, 3);
  EXPECT_EQ(Extended::schema().size(), RunOptions::schema().size() + 1);
  auto root2 = parse_toml("[run]\nroot = \"out\"\n");  // the old LLM/tune spelling of out_dir
  ConfigTable t2(section_table(root2, "run"), "run");
  const std::string e = error_of([&] { Extended::schema().parse(t2); });
  EXPECT_EQ(e.rfind("[run] unknown key 'root' (valid keys: ", 0), 0u) << e;  // no near name: the section's keys
  for (const char* k : {"name", "out_dir", "seed", "threads", "keep"}) EXPECT_NE(e.find(k), std::string::npos) << k << ": " << e;
}

TEST(RunOptions, ThreadsAndNameAreBounded) {
  auto parse = [](const std::string& text) {
    auto root = parse_toml(text);
    ConfigTable t(section_table(root, "run"), "run");
    return RunOptions::parse(t);
  };
  EXPECT_TRUE(has(error_of([&] { parse("[run]\nthreads = 100000\n"); }), "must be in [0, 256]"));
  const std::string huge(10'000'000, 'a');
  auto msg = error_of([&] { parse("[run]\nname = \"" + huge + "\"\n"); });
  EXPECT_TRUE(has(msg, "10000000 bytes")) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u);  // the value is clipped, not echoed
  EXPECT_TRUE(has(error_of([&] { parse("[run]\nname = \"a/b\"\n"); }), "without '/'"));
  EXPECT_EQ(parse("[run]\nname = \"" + std::string(255, 'b') + "\"\n").name.size(), 255u);
}

TEST(OptionSchema, CheckWithFlagsNamesTheFlag) {
  Opts o;
  o.lr = std::numeric_limits<double>::infinity();
  auto t = ConfigTable::flags("plexus x");
  EXPECT_EQ(error_of([&] { Opts::schema().check(o, t); }), "plexus x: --lr = inf: must be finite and in (0, 10]");
}

TEST(OptionSchema, MarkdownTableFromTheDeclarations) {
  EXPECT_EQ(Opts::schema().markdown(),
            "| key | type | default | allowed | meaning |\n"
            "|---|---|---|---|---|\n"
            "| `steps` | int | `10` | [1, 1000] | K local steps |\n"
            "| `lr` | float | `0.3` | (0, 10] | learning rate |\n"
            "| `decay` | float | `0.0001` | >= 0 | weight decay |\n"
            "| `sam` | bool | `false` | any | use SAM |\n"
            "| `mixing` | string | `\"metropolis\"` | \"metropolis\", \"uniform\" | mixing weights |\n"
            "| `hidden` | int array | `[200, 200]` | >= 1 | hidden sizes |\n");
}

TEST(GeneratedBlocks, FillAndCheck) {
  std::vector<SectionDoc> sections = {section_doc("x", Opts::schema())};
  const std::string doc = "# Title\nprose\n<!-- generated: x.train -->\nstale\n<!-- end generated -->\nmore prose\n";
  auto filled = fill_generated_blocks(doc, sections);
  EXPECT_EQ(filled, "# Title\nprose\n<!-- generated: x.train -->\n" + Opts::schema().markdown() +
                        "<!-- end generated -->\nmore prose\n");
  EXPECT_TRUE(check_generated_blocks(filled, sections).empty());
  auto diffs = check_generated_blocks(doc, sections);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_TRUE(has(diffs[0], "block 'x.train' differs")) << diffs[0];
  auto missing = check_generated_blocks("no blocks\n", sections);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_TRUE(has(missing[0], "has no generated block 'x.train'"));
  auto extra = check_generated_blocks(filled + "<!-- generated: x.gone -->\n<!-- end generated -->\n", sections);
  ASSERT_EQ(extra.size(), 1u);
  EXPECT_TRUE(has(extra[0], "'x.gone' names no config section"));
}

TEST(Override, StringKeysTakeTheLiteralText) {
  auto root = parse_toml("[run]\nseed = 1\n");
  apply_override(root, "run.name=2024-12-01");  // TOML would read a date
  apply_override(root, "run.out_dir=123");      // TOML would read an integer
  ConfigTable t(section_table(root, "run"), "run");
  auto o = RunOptions::parse(t);
  EXPECT_EQ(o.name, "2024-12-01");
  EXPECT_EQ(o.out_dir, "123");
  // A number key still type-checks a date: the literal-text rule is for string keys only.
  apply_override(root, "run.seed=2024-12-01");
  ConfigTable t2(section_table(root, "run"), "run");
  EXPECT_TRUE(has(error_of([&] { RunOptions::parse(t2); }), "seed must be an integer"));
}

TEST(Override, MultiLineValuesAreRejected) {
  auto root = parse_toml("[fl]\nrounds = 1\n");
  auto msg = error_of([&] { apply_override(root, "fl.rounds=5\n[evil]\nx = 1"); });
  EXPECT_TRUE(has(msg, "spans several lines")) << msg;
  EXPECT_FALSE(root.contains("evil"));
  EXPECT_EQ(root["fl"]["rounds"].value<int64_t>(), 1);
}

TEST(CheckSections, OneWordingForUnknownTables) {
  auto root = parse_toml("[trian]\nlr = 1\n");
  EXPECT_EQ(error_of([&] { check_sections(root, {"run", "train"}); }), "unknown table [trian] (did you mean [train]?)");
  auto root2 = parse_toml("zzz = 1\n");
  EXPECT_EQ(error_of([&] { check_sections(root2, {"run", "train"}); }),
            "unknown table [zzz] (valid tables: run, train)");
}

TEST(LoadToml, DirectoryAndEmptyFileAreErrors) {
  auto dir = fs::temp_directory_path() / ("plexus_load_toml_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_TRUE(has(error_of([&] { load_toml(dir); }), "is a directory"));
  std::ofstream(dir / "empty.toml") << "# only a comment\n\n";
  EXPECT_TRUE(has(error_of([&] { load_toml(dir / "empty.toml"); }), "is empty"));
  error_of([&] { load_toml(dir / "missing.toml"); }, ErrorKind::Io);
  fs::remove_all(dir);
}
