// `plexus privacy epsilon|calibrate` end to end: the values the README quotes (computed independently in
// the spec with DP-FedSAM's eps_computer formula: ε(q=0.1, σ=0.95, T=200, δ=5e-3) = 7.77 at α ≈ 2.2), the
// calibration round trip, and one-line errors with exit code 2 for bad arguments.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../cli_util.h"

using plexus::test::run_plexus;

TEST(PrivacyCli, EpsilonMatchesSpecValue) {
  auto r = run_plexus("privacy epsilon --sampling poisson --q 0.1 --noise-multiplier 0.95 --steps 200 "
                      "--delta 5e-3 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["epsilon"].get<double>(), 7.77, 0.01);  // docs/privacy.md: 7.77 (its orders differ slightly)
}

TEST(PrivacyCli, CalibratedSigmaReachesTheTarget) {
  auto c = run_plexus("privacy calibrate --sampling poisson --target-epsilon 3 --delta 1e-5 --q 0.1 --steps 300");
  ASSERT_EQ(c.code, 0) << c.out;
  auto pos = c.out.find("noise_multiplier ");
  ASSERT_NE(pos, std::string::npos) << c.out;
  const double sigma = std::stod(c.out.substr(pos + 17));
  auto e = run_plexus("privacy epsilon --sampling poisson --q 0.1 --steps 300 --delta 1e-5 --json --noise-multiplier " +
                      std::to_string(sigma));
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_LE(nlohmann::json::parse(e.out)["epsilon"].get<double>(), 3.0 + 1e-6);
}

TEST(PrivacyCli, BadArgumentsGiveOneErrorLine) {
  for (const std::string bad : {"--q 0.1 --delta 2 --noise-multiplier 1", "--q 0.1 --delta 1e-5 --noise-multiplier 0",
                                "--q 1.5 --delta 1e-5 --noise-multiplier 1"}) {
    auto r = run_plexus("privacy epsilon --sampling poisson --steps 10 " + bad);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("error: config:", 0), 0u) << bad << "\n" << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
  }
}
