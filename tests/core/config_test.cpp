#include <gtest/gtest.h>

#include "plexus/core/config.h"

using namespace plexus;

namespace {
struct Opts {
  int64_t gossip_steps = 1;
  double rho = 0.05;
  std::string mixing = "metropolis";
  static Opts parse(ConfigTable& t) {
    Opts o;
    t.get("gossip_steps", o.gossip_steps);
    t.get("rho", o.rho);
    t.get_choice("mixing", o.mixing, {"uniform", "metropolis"});
    t.require(o.gossip_steps >= 1, "gossip_steps", "must be >= 1");
    t.finish();
    return o;
  }
};

Opts parse_text(const std::string& text) {
  auto root = parse_toml(text);
  ConfigTable t(root["fl"].as_table(), "fl");
  return Opts::parse(t);
}

std::string error_of(const std::string& text) {
  try {
    parse_text(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsWhenSectionAbsent) {
  auto o = parse_text("[other]\nx = 1\n");
  EXPECT_EQ(o.gossip_steps, 1);
  EXPECT_DOUBLE_EQ(o.rho, 0.05);
}

TEST(Config, ReadsValuesAndAcceptsIntegerForDouble) {
  auto o = parse_text("[fl]\ngossip_steps = 4\nrho = 1\nmixing = \"uniform\"\n");
  EXPECT_EQ(o.gossip_steps, 4);
  EXPECT_DOUBLE_EQ(o.rho, 1.0);
  EXPECT_EQ(o.mixing, "uniform");
}

TEST(Config, UnknownKeySuggestsNearest) {
  std::string msg = error_of("[fl]\ngosip_steps = 4\n");
  EXPECT_NE(msg.find("unknown key 'gosip_steps'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'gossip_steps'"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKey) {
  std::string msg = error_of("[fl]\nrho = \"big\"\n");
  EXPECT_NE(msg.find("rho"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number"), std::string::npos) << msg;
}

TEST(Config, RangeErrorNamesKeyAndFix) {
  std::string msg = error_of("[fl]\ngossip_steps = 0\n");
  EXPECT_NE(msg.find("gossip_steps = 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("set fl.gossip_steps"), std::string::npos) << msg;
}

TEST(Config, BadChoiceListsChoices) {
  std::string msg = error_of("[fl]\nmixing = \"metropolis_hastings\"\n");
  EXPECT_NE(msg.find("uniform, metropolis"), std::string::npos) << msg;
}

TEST(Config, OverrideParsesTomlValuesAndBareWords) {
  auto root = parse_toml("[fl]\ngossip_steps = 1\n");
  apply_override(root, "fl.gossip_steps=4");
  apply_override(root, "fl.mixing=uniform");
  apply_override(root, "run.name=\"x\"");
  EXPECT_EQ(root["fl"]["gossip_steps"].value<int64_t>(), 4);
  EXPECT_EQ(root["fl"]["mixing"].value<std::string>(), "uniform");
  EXPECT_EQ(root["run"]["name"].value<std::string>(), "x");
  EXPECT_THROW(apply_override(root, "novalue"), Error);
}

// Found with fuzz/config's resolved-config property (issue 12): `--set run.logs=/tmp/<0xFE>.log` was accepted, and
// the resolved config.toml then held bytes no TOML reader accepts, so `--resume` failed on the run's own config.
// Valid UTF-8 still passes.
TEST(Config, OverrideRejectsInvalidUtf8AndKeepsValidUtf8) {
  auto root = parse_toml("[run]\nname = \"a\"\n");
  for (const char* bad : {"run.logs=/tmp/\xfe.log", "run.name=ab\xff", "run.name=\xc0\xaf", "run.name=\xed\xa0\x80",
                          "run.name=\xe2\x82"}) {
    try {
      apply_override(root, bad);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
  }
  apply_override(root, "run.name=caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x99\x82");  // café-€-🙂
  EXPECT_EQ(root["run"]["name"].value<std::string>(), "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x99\x82");
  EXPECT_NO_THROW(parse_toml(to_toml_string(root)));
}

// Found by a new-user trial (issue 12): `--set 'fl={rounds=1}'` replaced the whole [fl] table, so the run
// silently fell back to the default algorithm and client count.
TEST(Config, OverrideRefusesToReplaceAWholeTable) {
  auto root = parse_toml("[fl]\nalgorithm = \"fedavg\"\nclients = 100\n");
  for (const char* bad : {"fl={rounds=1}", "fl=3", "fl.extra={a=1}"}) {
    try {
      apply_override(root, bad);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("set its keys one by one"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(root["fl"]["algorithm"].value<std::string>(), "fedavg");
  EXPECT_EQ(root["fl"]["clients"].value<int64_t>(), 100);
  EXPECT_FALSE(root["fl"]["extra"]);
}

TEST(Config, SyntaxErrorGivesLine) {
  try {
    parse_toml("[fl]\nrho = = 2\n", "cfg.toml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.toml:2"), std::string::npos) << e.what();
  }
}

TEST(Config, ResolvedHoldsDefaults) {
  auto root = parse_toml("[fl]\nrho = 0.1\n");
  ConfigTable t(root["fl"].as_table(), "fl");
  Opts::parse(t);
  EXPECT_EQ(t.resolved()["gossip_steps"].value<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(*t.resolved()["rho"].value<double>(), 0.1);
}
