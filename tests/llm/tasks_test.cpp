// R1 tasks: exact verifiers on hand-picked (and malicious) answers, answer extraction and the format check,
// disjoint train/test splits, determinism, and traces that the verifiers accept.
#include <gtest/gtest.h>

#include <set>

#include "plexus/core/error.h"
#include "plexus/llm/tasks/expr.h"
#include "plexus/llm/tasks/task.h"
#include "plexus/llm/tasks/tasks_impl.h"
#include "plexus/llm/tasks/task_text.h"

using namespace plexus::llm;

namespace {
std::unique_ptr<Task> task(const char* name) {
  TaskOptions o;
  o.name = name;
  return make_task(o);
}
Problem countdown(std::vector<int64_t> nums, int64_t target) {
  Problem p;
  p.numbers = std::move(nums);
  p.target = target;
  return p;
}
}  // namespace

TEST(TaskExpr, EvaluatesExactRationals) {
  auto r = evaluate_expression("8/3*6");  // 16 exactly only in rationals
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value, (Rational{16, 1}));
  EXPECT_EQ(r.numbers, (std::vector<int64_t>{8, 3, 6}));
  EXPECT_EQ(evaluate_expression(" (25 - 3) * 7 ").value, (Rational{154, 1}));
  EXPECT_EQ(evaluate_expression("1/3+1/6").value, (Rational{1, 2}));
}

TEST(TaskExpr, RejectsMaliciousText) {
  for (const char* bad : {"", "2**5", "2^5", "-3+4", "3.0*2", "1e3", "__import__('os').system('ls')", "3+4;",
                          "(3+4", "3+4)", "3 4", "3+*4", "9999999999+1", "25/(7-7)", "1/0", "3×7", "abs(3)"}) {
    auto r = evaluate_expression(bad);
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
  EXPECT_FALSE(evaluate_expression(std::string(40, '(') + "1" + std::string(40, ')')).ok);  // nesting > 32
  EXPECT_FALSE(evaluate_expression(std::string(300, '1')).ok);                              // > 256 chars
  // 999999999^2^... overflow is caught, not wrapped.
  EXPECT_FALSE(evaluate_expression("999999999*999999999*999999999").ok);
}

TEST(TaskCountdown, VerifierAcceptsAndRejects) {
  CountdownTask t(TaskOptions{});
  auto p = countdown({3, 7, 25}, 46);
  for (const char* ok : {"25+3*7", "(3*7)+25", "7*3+25", " 25 + 7 * 3 = 46 "}) EXPECT_TRUE(t.check_answer(p, ok)) << ok;
  for (const char* bad : {"46", "25+21", "25+3*7+1", "25+3*7*1", "3*7+25+25", "25+3*7 = 47", "25+3*7=46=46",
                          "(25+3)*7", "25+3+7", "25/(7-7)+3", "25+3*7; rm -rf /", "99999999999999999999+3*7+25"})
    EXPECT_FALSE(t.check_answer(p, bad)) << bad;
  EXPECT_TRUE(t.check_answer(countdown({8, 3, 6}, 16), "8/3*6"));     // exact rational intermediate
  EXPECT_FALSE(t.check_answer(countdown({8, 3, 6}, 16), "8*6/3/1"));  // 1 is not a given number
}

TEST(TaskArithmetic, ExactIntegerAnswers) {
  TaskOptions o;
  ArithmeticTask add(o, '+'), mul(o, '*');
  Problem p;
  p.numbers = {123, 456};
  p.target = 579;
  for (const char* ok : {"579", " 579 ", "0579"}) EXPECT_TRUE(add.check_answer(p, ok)) << ok;
  for (const char* bad : {"580", "579.0", "-579", "5 79", "579!", "123+456", "", "9999999999999999999999"})
    EXPECT_FALSE(add.check_answer(p, bad)) << bad;
  p.target = 123 * 456;
  EXPECT_TRUE(mul.check_answer(p, "56088"));
  EXPECT_FALSE(mul.check_answer(p, "56087"));
}

TEST(TaskSorting, ExactSortedList) {
  SortingTask t(TaskOptions{});
  Problem p;
  p.numbers = {5, 3, 9, 3};
  for (const char* ok : {"3, 3, 5, 9", "3 3 5 9", "3,3,5,9"}) EXPECT_TRUE(t.check_answer(p, ok)) << ok;
  for (const char* bad : {"3, 5, 9", "9, 5, 3, 3", "3, 3, 5, 9, 9", "3; 3; 5; 9", "[3, 3, 5, 9]", "3, 3, 5, -9"})
    EXPECT_FALSE(t.check_answer(p, bad)) << bad;
}

TEST(TaskFormat, LastAnswerAndWellFormed) {
  std::string a;
  ASSERT_TRUE(last_answer("<answer> 1 </answer> wait <answer>\n 2 </answer>", a));
  EXPECT_EQ(a, "2");
  EXPECT_FALSE(last_answer("<answer> 1", a));
  EXPECT_FALSE(last_answer("1 </answer>", a));
  EXPECT_TRUE(well_formed("<think> a+b </think> <answer> 3 </answer>"));
  EXPECT_TRUE(well_formed("<think>\nx\n</think>\n<answer>\n3\n</answer>\n"));
  EXPECT_FALSE(well_formed("<think> a </think> <answer> 3 </answer> more"));            // text after
  EXPECT_FALSE(well_formed("<think> a </think> b <answer> 3 </answer>"));               // text between
  EXPECT_FALSE(well_formed("<answer> 3 </answer> <think> a </think>"));                 // order
  EXPECT_FALSE(well_formed("<think> a </think> <answer> 3 </answer> <answer> 4 </answer>"));  // twice
  EXPECT_FALSE(well_formed("hi <think> a </think> <answer> 3 </answer>"));               // text before
}

TEST(TaskSplits, TrainAndTestNeverOverlapAndAreDeterministic) {
  for (const char* name : {"countdown", "addition", "multiplication", "sorting"}) {
    auto t = task(name);
    std::set<std::string> test;
    for (auto& p : t->test_set()) test.insert(p.key);
    for (uint64_t i = 0; i < 2000; ++i) EXPECT_EQ(test.count(t->problem(0, i).key), 0u) << name << " " << i;
    EXPECT_EQ(t->problem(0, 17).key, task(name)->problem(0, 17).key);
    EXPECT_NE(t->problem(0, 17).key, t->problem(0, 18).key);
  }
}

TEST(TaskTraces, VerifyAsCorrectAndWellFormed) {
  for (const char* name : {"countdown", "addition", "multiplication", "sorting"}) {
    auto t = task(name);
    for (uint64_t i = 0; i < 200; ++i) {
      auto p = t->problem(0, i);
      auto v = t->verify(p, t->trace(p));
      EXPECT_TRUE(v.correct) << name << ": " << t->trace(p);
      EXPECT_TRUE(v.well_formed) << name << ": " << t->trace(p);
      auto s = t->verify(p, task_completion(*t, p, true));
      EXPECT_TRUE(s.correct && s.well_formed) << name;
      // A wrong answer in the right format gets the format but not the accuracy.
      auto w = t->verify(p, " x </think> <answer> 0, 0 </answer>");
      EXPECT_TRUE(w.well_formed && w.has_answer && !w.correct) << name;
    }
  }
}

TEST(TaskCountdown, ProblemsAreSolvableWithinRange) {
  TaskOptions o;
  o.max_number = 20, o.max_target = 100;
  CountdownTask t(o);
  for (uint64_t i = 0; i < 200; ++i) {
    auto p = t.problem(0, i);
    EXPECT_GE(p.numbers.size(), 3u);
    EXPECT_LE(p.numbers.size(), 4u);
    EXPECT_GE(p.target, 1);
    EXPECT_LE(p.target, 100);
    EXPECT_TRUE(t.check_answer(p, p.answer)) << p.answer << " = " << p.target;
  }
}

TEST(TaskOptionsParse, UnknownTaskAndEmptySplitAreConfigErrors) {
  auto root = plexus::parse_toml("name = \"sudoku\"\n");
  plexus::ConfigTable t(&root, "task");
  try {
    TaskOptions::parse(t);
    FAIL();
  } catch (const plexus::Error& e) {
    EXPECT_EQ(e.kind(), plexus::ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("name"), std::string::npos) << e.what();
  }
  auto root2 = plexus::parse_toml("test_size = 0\n");
  plexus::ConfigTable t2(&root2, "task");
  EXPECT_THROW(TaskOptions::parse(t2), plexus::Error);
}
