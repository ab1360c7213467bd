// The evaluator: jinja2's semantics (scoping, undefined, loops, macros), errors with lines, and
// the render limits.
#include "engine/chat/jinja_evaluator.h"

#include <string>

#include "engine/chat/jinja_callable.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/chat/jinja_test_util.h"

namespace kvserve::jinja {
namespace {

using ::testing::HasSubstr;

std::string Render(absl::string_view source, absl::string_view vars = "{}") {
  absl::StatusOr<std::string> text = RenderJinja(source, vars);
  EXPECT_TRUE(text.ok()) << source << ": " << text.status();
  return text.ok() ? *text : "<error>";
}

absl::Status RenderError(absl::string_view source, absl::string_view vars = "{}",
                         RenderEnvironment environment = {}) {
  absl::StatusOr<std::string> text = RenderJinja(source, vars, environment);
  EXPECT_FALSE(text.ok()) << source << " rendered " << *text;
  return text.ok() ? absl::OkStatus() : text.status();
}

TEST(JinjaEvaluatorTest, PrintsValuesAsPythonDoes) {
  EXPECT_EQ(Render("{{ 1 }} {{ 2.0 }} {{ 1e-5 }} {{ true }} {{ none }} {{ 'é' }}"),
            "1 2.0 1e-05 True None é");
  EXPECT_EQ(Render("{{ [1, 'a', none, {'k': (1,)}] }}"), "[1, 'a', None, {'k': (1,)}]");
  EXPECT_EQ(Render("{{ x }}|{{ x.y }}", R"({"x": {"y": null}})"), "{'y': None}|None");
}

TEST(JinjaEvaluatorTest, IntegerAndFloatDivision) {
  EXPECT_EQ(
      Render("{{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 // 2 }}"),
      "3.5 2.0 3 -4 2 3.0");
  EXPECT_EQ(Render("{{ 2 ** 10 }} {{ 2 ** -1 }} {{ true + true }}"), "1024 0.5 2");
}

TEST(JinjaEvaluatorTest, UndefinedValues) {
  // Printing, testing, iterating and taking the length of an undefined value work...
  EXPECT_EQ(
      Render("[{{ nope }}]{{ nope is defined }}{{ nope|length }}{% for x in nope %}x{% endfor %}"
             "{{ 'x' in nope }}{{ nope ~ 'a' }}"),
      "[]False0Falsea");
  // ... a missing attribute or key is undefined...
  EXPECT_EQ(Render("{{ m.missing is defined }}|{{ m['missing'] }}|{{ 'abc'.nope is defined }}",
                   R"({"m": {"role": "user"}})"),
            "False||False");
  // ... but using an undefined value otherwise fails, naming it (jinja2's default Undefined).
  EXPECT_THAT(RenderError("{{ nope.attr }}").message(), HasSubstr("line 1: 'nope' is undefined"));
  EXPECT_THAT(RenderError("\n{{ m.a.b }}", R"({"m": {}})").message(),
              HasSubstr("line 2: 'dict object' has no attribute 'a'"));
  EXPECT_THAT(RenderError("{{ nope + 1 }}").message(), HasSubstr("'nope' is undefined"));
  EXPECT_THAT(RenderError("{{ nope() }}").message(), HasSubstr("'nope' is undefined"));
  EXPECT_THAT(RenderError("{{ [1][5] + 1 }}").message(), HasSubstr("list object has no element 5"));
}

TEST(JinjaEvaluatorTest, Truthiness) {
  EXPECT_EQ(Render("{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0] %}"
                   "{{ 'T' if v else 'F' }}{% endfor %}{{ 'T' if nope else 'F' }}"),
            "FTFTFTFTFFF");
  EXPECT_EQ(Render("{{ 0 or 'x' }} {{ 'a' and 'b' }} [{{ '' and 'b' }}]"), "x b []");
}

TEST(JinjaEvaluatorTest, SetInsideALoopDoesNotLeakButNamespacesDo) {
  EXPECT_EQ(Render("{% set y = 5 %}{% for x in [1, 2] %}{{ y }}{% set y = x %}{{ y }}{% endfor %}"
                   "[{{ y }}]"),
            "5152[5]");
  EXPECT_EQ(Render("{% for x in [1] %}{% set z = x %}{% endfor %}[{{ z }}]"), "[]");
  EXPECT_EQ(Render("{% if true %}{% set z = 3 %}{% endif %}[{{ z }}]"), "[3]");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}"
                   "{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_THAT(RenderError("{% set x = 1 %}\n{% set x.y = 2 %}").message(),
              HasSubstr("line 2: cannot assign attribute on non-namespace object"));
}

TEST(JinjaEvaluatorTest, LoopVariables) {
  EXPECT_EQ(Render("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}"),
            "103TrueFalse3,212FalseFalse3,321FalseTrue3,");
  EXPECT_EQ(Render("{% for x in range(6) if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"),
            "0/3 2/3 4/3 ");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  EXPECT_EQ(Render("{% for a in [1, 2] %}{% set outer = loop %}{% for b in [3] %}"
                   "{{ outer.index }}{{ loop.index }}{% endfor %}{% endfor %}"),
            "1121");
  EXPECT_EQ(Render("{% for x in range(9) %}{% if x == 1 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "023");
  EXPECT_THAT(RenderError("{% for a, b in [[1, 2, 3]] %}{% endfor %}").message(),
              HasSubstr("too many values to unpack (expected 2)"));
  EXPECT_THAT(RenderError("{% for x in 3 %}{% endfor %}").message(),
              HasSubstr("'int' object is not iterable"));
}

TEST(JinjaEvaluatorTest, Macros) {
  EXPECT_EQ(Render("{% macro m(a, b=a ~ '!') %}<{{ a }}{{ b }}>{% endmacro %}"
                   "{{ m(1) }}{{ m(1, 2) }}{{ m(b=3, a=4) }}"),
            "<11!><12><43>");
  EXPECT_EQ(Render("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, k=2) }}"),
            "(1,){'k': 2}");
  EXPECT_EQ(Render("{% set x = 1 %}{% macro m() %}{% set x = 2 %}{{ x }}{% endmacro %}"
                   "{{ m() }}{{ x }}"),
            "21");
  EXPECT_THAT(RenderError("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").message(),
              HasSubstr("macro 'm' takes not more than 1 argument(s)"));
  EXPECT_THAT(RenderError("{% macro m(a) %}{% endmacro %}{{ m(b=2) }}").message(),
              HasSubstr("macro 'm' takes no keyword argument 'b'"));
}

TEST(JinjaEvaluatorTest, ErrorsNameTheLineOfTheFailingExpression) {
  const absl::Status status = RenderError("line one\n{% if true %}\n  {{ 'a' + 1 }}\n{% endif %}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "line 3: can only concatenate str (not \"int\") to str");
  EXPECT_THAT(RenderError("{{ 1 / 0 }}").message(), HasSubstr("line 1: division by zero"));
  EXPECT_THAT(RenderError("{{ 1 < 'a' }}").message(),
              HasSubstr("'<' not supported between instances of 'int' and 'str'"));
  EXPECT_THAT(RenderError("{{ [].append(1) }}").message(),
              HasSubstr("access to attribute 'append' of 'list' object is unsafe"));
  EXPECT_THAT(RenderError("{{ '%s' % 1 }}").message(),
              HasSubstr("printf-style string formatting ('%' on a string) is not supported"));
  EXPECT_THAT(RenderError("{{ 2 ** 62 * 4 }}").message(), HasSubstr("integer overflow"));
  EXPECT_THAT(RenderError("{% if true %}{{ 1 | from_json }}{% endif %}").message(),
              HasSubstr("line 1: no filter named 'from_json'"));
}

TEST(JinjaEvaluatorTest, RaiseExceptionFailsWithExactlyTheTemplatesMessage) {
  const absl::Status status = RenderError(
      "a\n{% macro check() %}{{ raise_exception('Roles must alternate ' ~ 2) }}"
      "{% endmacro %}\n{% for x in [1] %}{{ check() }}{% endfor %}");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Roles must alternate 2");
  EXPECT_TRUE(IsRaisedError(status));
  EXPECT_FALSE(IsRaisedError(RenderError("{{ nope.x }}")));
}

TEST(JinjaEvaluatorTest, StrftimeNowUsesTheInjectedClock) {
  RenderEnvironment environment;
  environment.now = absl::FromCivil(absl::CivilSecond(2024, 7, 26, 9, 5, 7), absl::UTCTimeZone());
  absl::StatusOr<std::string> text = RenderJinja(
      "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%dT%H:%M:%S') }}", "{}", environment);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "26 Jul 2024|2024-07-26T09:05:07");
  environment.time_zone = absl::FixedTimeZone(-5 * 3600);
  text = RenderJinja("{{ strftime_now('%H:%M') }}", "{}", environment);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "04:05");
}

TEST(JinjaEvaluatorTest, StepLimitStopsRunawayLoops) {
  RenderEnvironment environment;
  environment.limits.max_steps = 10000;
  const absl::Status status = RenderError(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}",
      environment);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("more than 10000 steps"));
  // The default limit allows real templates many times over.
  EXPECT_EQ(Render("{% for i in range(1000) %}{% endfor %}done"), "done");
}

TEST(JinjaEvaluatorTest, OutputAndStringSizesAreCapped) {
  RenderEnvironment environment;
  environment.limits.max_output_bytes = 1000;
  EXPECT_EQ(RenderError("{% for i in range(2000) %}x{% endfor %}", "{}", environment).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(RenderError("{{ 'ab' * 1000000000 }}", "{}", environment).message(),
              HasSubstr("too long"));
  EXPECT_THAT(RenderError("{% set ns = namespace(s='x') %}{% for i in range(20) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                          "{}", environment)
                  .message(),
              HasSubstr("too long"));
  environment.limits.max_output_bytes = size_t{1} << 20;
  environment.limits.max_built_bytes = size_t{4} << 20;
  const absl::Status built = RenderError(
      "{% for i in range(100) %}{% set s = 'x' * 100000 %}{% endfor %}", "{}", environment);
  EXPECT_EQ(built.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(built.message(), HasSubstr("built more than"));
}

TEST(JinjaEvaluatorTest, MacroRecursionIsBounded) {
  const absl::Status status = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("macro calls nested more than 64 deep"));
  EXPECT_EQ(Render("{% macro fact(n) %}{{ 1 if n <= 1 else n * fact(n - 1) | int }}{% endmacro %}"
                   "{{ fact(10) }}"),
            "3628800");
}

TEST(JinjaEvaluatorTest, ANamespaceHoldingItselfPrintsWithoutRecursingForever) {
  const std::string text = Render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}");
  EXPECT_THAT(text, HasSubstr("<Namespace {'me': <Namespace {'me': "));
  EXPECT_THAT(text, HasSubstr("..."));
}

}  // namespace
}  // namespace kvserve::jinja
